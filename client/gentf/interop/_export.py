"""A gentf graph as a TensorFlow GraphDef (needs TensorFlow, imported lazily)."""

from __future__ import annotations

from typing import Any

from gentf.graph._core import Graph, get_default_graph
from gentf.interop._convert import attr_to_tf, load_tensorflow, tf_module

__all__ = ["export_graph_def"]


def export_graph_def(graph: Graph | None = None, init_name: str = "init") -> Any:
    """``graph`` (default: the default graph) as a TensorFlow ``GraphDef`` proto.

    Every node keeps its name, op, inputs and attributes. Each variable ``v`` also gets a
    constant ``v/initial_value`` and an ``v/Assign`` node, and one NoOp called
    ``init_name`` (made unique) runs them all: in real TensorFlow, import the GraphDef,
    run ``init``, then run anything. Returns ``tensorflow.compat.v1.GraphDef``.
    """
    tf = load_tensorflow()
    g = graph if graph is not None else get_default_graph()
    out = tf_module("core.framework.graph_pb2").GraphDef()
    out.versions.producer = tf.version.GRAPH_DEF_VERSION
    out.versions.min_consumer = tf.version.GRAPH_DEF_VERSION_MIN_CONSUMER
    names = {op.name for op in g.operations}
    assigns: list[str] = []
    for op in g.operations:
        node = out.node.add(name=op.name, op=op.type)
        node.input.extend(t.ref for t in op.inputs)
        node.input.extend(f"^{c.name}" for c in op.control_inputs)
        for key, value in op.attrs.items():
            node.attr[key].CopyFrom(attr_to_tf(tf, value))
        if op.type == "VarHandleOp" and op.initial_value is not None:
            value_name = _fresh(f"{op.name}/initial_value", names)
            const = out.node.add(name=value_name, op="Const")
            tensor = tf.make_tensor_proto(op.initial_value, dtype=tf.as_dtype(int(op.attrs["dtype"].type)))
            const.attr["value"].tensor.CopyFrom(tensor)
            const.attr["dtype"].type = tensor.dtype
            assign_name = _fresh(f"{op.name}/Assign", names)
            assign = out.node.add(name=assign_name, op="AssignVariableOp")
            assign.input.extend([op.name, value_name])
            assign.attr["dtype"].type = tensor.dtype
            assigns.append(assign_name)
    init = out.node.add(name=_fresh(init_name, names), op="NoOp")
    init.input.extend(f"^{a}" for a in assigns)
    return out


def _fresh(name: str, taken: set[str]) -> str:
    candidate, k = name, 1
    while candidate in taken:
        candidate = f"{name}_{k}"
        k += 1
    taken.add(candidate)
    return candidate
