"""A gentf graph as a TensorFlow GraphDef or SavedModel, with the variables' current values
read from the worker (needs TensorFlow, imported lazily)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.graph._core import Graph, Operation, Tensor, get_default_graph
from gentf.interop._convert import attr_to_tf, load_tensorflow, tf_module

__all__ = ["export_graph_def", "export_saved_model", "variable_values"]

_VARIABLE = "VarHandleOp"


def export_graph_def(graph: Graph | None = None, init_name: str = "init",
                     session: Any = None) -> Any:
    """``graph`` (default: the default graph) as a TensorFlow ``GraphDef`` proto, with the
    variables' current values.

    Every node keeps its name, op, inputs and attributes. Each variable ``v`` also gets a
    constant ``v/initial_value`` holding its current value (see :func:`variable_values`:
    the trained value on the worker, read from ``session``) and an ``v/Assign`` node, and
    one NoOp called ``init_name`` (made unique) runs them all: in real TensorFlow, import
    the GraphDef, run ``init``, then run anything. Returns ``tensorflow.compat.v1.GraphDef``.
    """
    tf = load_tensorflow()
    g = graph if graph is not None else get_default_graph()
    var_ops = [op for op in g.operations if op.type == _VARIABLE]
    values = variable_values(var_ops, session, g)
    out = tf_module("core.framework.graph_pb2").GraphDef()
    out.versions.producer = tf.version.GRAPH_DEF_VERSION
    out.versions.min_consumer = tf.version.GRAPH_DEF_VERSION_MIN_CONSUMER
    names = {op.name for op in g.operations}
    assigns: list[str] = []
    for op in g.operations:
        _add_node(tf, out, op)
        if op.type == _VARIABLE:
            value_name = _fresh(f"{op.name}/initial_value", names)
            const = out.node.add(name=value_name, op="Const")
            tensor = tf.make_tensor_proto(values[op.name], dtype=_tf_dtype(tf, op))
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


def export_saved_model(
    fn: Any,
    export_dir: str | os.PathLike[str],
    *,
    inputs: Sequence[Tensor] | None = None,
    session: Any = None,
    signature_name: str = "serving_default",
    output_key: str = "output",
) -> dict[str, str]:
    """Writes a TensorFlow SavedModel of ``fn`` to ``export_dir`` (a new or empty directory);
    returns the serving signature's input keys, ``{placeholder name: input key}``.

    ``fn`` is a TFFunction (its inputs, output and session are used), or a Tensor with
    ``inputs=`` (placeholders) and ``session=`` (default: as in :func:`variable_values`).
    The SavedModel holds every variable the output reads, as a ``tf.Variable`` with its
    current (trained) value, and one signature ``signature_name`` (a predict signature,
    tag ``serve``: what TensorFlow Serving loads) whose inputs are the placeholders, keyed
    by their node names with characters other than letters, digits and ``_`` replaced by
    ``_``, and whose one output is ``output_key``. Load it with ``tf.saved_model.load``
    (``loaded.signatures[signature_name](**inputs)[output_key]``) or serve it as it is.
    Raises ValueError when the output depends on a placeholder that is not an input.
    """
    tf = load_tensorflow()
    if hasattr(fn, "function_id") and hasattr(fn, "output"):
        inputs, output, session = list(fn.inputs), fn.output, fn.session
    elif isinstance(fn, Tensor) and inputs is not None:
        output = fn
    else:
        raise TypeError("export_saved_model exports a TFFunction, or a Tensor with inputs=")
    output = getattr(output, "_as_tensor", lambda: output)()
    input_names = [x.op.name for x in inputs]
    ops = _ancestors(output.op, set(input_names))
    placeholders = [op.name for op in ops if op.type == "Placeholder"]
    missing = [n for n in placeholders if n not in input_names]
    if missing:
        raise ValueError(f"the output {output.name!r} depends on placeholder {missing[0]!r}, "
                         "which is not an input")
    var_ops = [op for op in ops if op.type == _VARIABLE]
    values = variable_values(var_ops, session, output.graph)
    graph_def = tf_module("core.framework.graph_pb2").GraphDef()
    mapped = frozenset(input_names) | {op.name for op in var_ops}
    for op in ops:
        if op.name not in mapped:
            _add_node(tf, graph_def, op, mapped)
    referenced = {t.name for op in ops if op.name not in mapped for t in op.inputs}

    module = tf.Module()
    module.gentf_variables = [
        tf.Variable(values[op.name], dtype=_tf_dtype(tf, op), name=op.name,
                    trainable=bool(getattr(getattr(op, "variable", None), "trainable", True)))
        for op in var_ops]
    by_node = dict(zip((op.name for op in var_ops), module.gentf_variables))
    keys = _signature_keys(input_names)
    specs = [tf.TensorSpec(_shape(x), tf.as_dtype(x.dtype.name), name=keys[x.op.name])
             for x in inputs]

    def serve(*args: Any) -> dict[str, Any]:
        graph = tf.compat.v1.get_default_graph()
        input_map = {f"{name}:0": arg for name, arg in zip(input_names, args)}
        for name, variable in by_node.items():
            input_map[f"{name}:0"] = graph.capture(variable.handle)
        input_map = {k: v for k, v in input_map.items() if k in referenced}
        if output.op.name in mapped:
            result = input_map[output.name]
        else:
            (result,) = tf.graph_util.import_graph_def(
                graph_def, input_map=input_map, return_elements=[output.name], name="gentf")
        return {output_key: tf.identity(result, name=output_key)}

    module.serve = tf.function(serve, input_signature=specs, autograph=False)
    path = os.fspath(export_dir)
    tf.saved_model.save(module, path,
                        signatures={signature_name: module.serve.get_concrete_function()})
    return keys


def variable_values(ops: Sequence[Operation], session: Any = None,
                    graph: Graph | None = None) -> dict[str, np.ndarray[Any, Any]]:
    """The current values of the variables ``ops`` (VarHandleOps), ``{node name: value}``.

    Values are read from the worker in one call, through ``session``; without one, through
    the default session if it runs ``graph`` (default: the ops' graph), else the one open
    session on ``graph`` (ValueError if several are open). With no session, a variable's
    initial value is its value (nothing has run). ValueError for a variable with no value
    on the client and no session to read it from.
    """
    if not ops:
        return {}
    g = graph if graph is not None else ops[0].graph
    sess = session if session is not None else _session_of(g)
    if sess is None:
        values = {}
        for op in ops:
            if op.initial_value is None:
                raise ValueError(f"variable {op.name!r} has no value on the client; pass the "
                                 "session that holds it (session=)")
            values[op.name] = np.asarray(op.initial_value)
        return values
    reads = [_read_of(op) for op in ops]
    return {op.name: np.asarray(v) for op, v in zip(ops, sess.run(reads))}


def _session_of(graph: Graph) -> Any:
    from gentf.remote._session import _OPEN_SESSIONS, get_default_session

    default = get_default_session()
    if default is not None and default.graph is graph and not default.closed:
        return default
    open_here = [s for s in list(_OPEN_SESSIONS) if s.graph is graph and not s.closed]
    if len(open_here) > 1:
        raise ValueError(f"{len(open_here)} open sessions run this graph; pass the one whose "
                         "variable values to export (session=)")
    return open_here[0] if open_here else None


def _read_of(op: Operation) -> Any:
    """Something ``Session.run`` fetches as the variable's value."""
    variable = getattr(op, "variable", None)
    if variable is not None:
        return variable
    for other in op.graph.operations:
        if (other.type == "ReadVariableOp" and other.inputs and other.inputs[0].op is op
                and not other.control_inputs):
            return other.outputs[0]
    raise ValueError(f"variable {op.name!r} has no read in the graph to fetch its value with")


def _ancestors(root: Operation, stop: set[str]) -> list[Operation]:
    """``root`` and the operations it depends on, in graph order; not past ``stop``."""
    seen: set[str] = set()
    stack = [root]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.name in stop:
            continue
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in root.graph.operations if op.name in seen]


def _add_node(tf: Any, graph_def: Any, op: Operation, mapped: frozenset[str] = frozenset()) -> None:
    """Appends ``op`` as a NodeDef; control inputs on ``mapped`` nodes are left out."""
    node = graph_def.node.add(name=op.name, op=op.type)
    node.input.extend(t.ref for t in op.inputs)
    node.input.extend(f"^{c.name}" for c in op.control_inputs if c.name not in mapped)
    for key, value in op.attrs.items():
        node.attr[key].CopyFrom(attr_to_tf(tf, value))


def _tf_dtype(tf: Any, op: Operation) -> Any:
    return tf.as_dtype(int(op.attrs["dtype"].type))


def _shape(placeholder: Tensor) -> list[int | None] | None:
    shape = placeholder.op.attrs.get("shape")
    if shape is None or shape.shape.unknown_rank:
        return None
    return [None if d < 0 else int(d) for d in shape.shape.dims]


def _signature_keys(names: Sequence[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not base or base[0].isdigit():
            base = f"x_{base}"
        keys[name] = _fresh(base, taken)
    return keys


def _fresh(name: str, taken: set[str]) -> str:
    candidate, k = name, 1
    while candidate in taken:
        candidate = f"{name}_{k}"
        k += 1
    taken.add(candidate)
    return candidate
