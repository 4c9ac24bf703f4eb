"""``tf.gradients``: gradient nodes built by a worker with TensorFlow's gradient registry.

The client sends the nodes the gradients depend on (``AddGradients``, no session needed);
the worker builds the gradient subgraph with TensorFlow and returns its nodes, which are
added to the client's graph as ordinary nodes (sent to a session when a run needs them).
TensorFlow.jl builds gradients the same way, through Python's TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gentf.graph._apply import convert_to_tensor
from gentf.graph._core import Graph, Operation, Tensor, get_default_graph
from gentf.graph._registry import registry
from gentf.graph._worker import worker_link
from gentf.v1 import graph_pb2, worker_pb2
from gentf.wire._dtypes import as_dtype

__all__ = ["gradients"]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _ancestors(roots: Sequence[Operation]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return seen


def _wire(op: Operation) -> graph_pb2.NodeDef:
    node = op.node_def()
    if node.HasField("initial_value"):
        shape = node.attrs["shape"].shape if "shape" in node.attrs else None
        if shape is not None and not shape.unknown_rank and all(d >= 0 for d in shape.dims):
            node.ClearField("initial_value")  # the worker needs no values to differentiate
    return node


def gradients(
    ys: Any,
    xs: Any,
    grad_ys: Any = None,
    name: str = "gradients",
    colocate_gradients_with_ops: bool = False,
    gate_gradients: bool = False,
    aggregation_method: Any = None,
    stop_gradients: Any = None,
) -> list[Tensor | None]:
    """``tf.gradients(ys, xs, grad_ys=None, name="gradients", stop_gradients=None)``.

    Symbolic partial derivatives of ``sum(ys)`` with respect to each of ``xs``, one entry
    per x (None where no y depends on it), exactly as TensorFlow 1 builds them: a worker
    runs TensorFlow's own gradient functions and the new nodes join the default graph under
    the name scope ``name``. A Variable among ``xs`` means its value (all its reads).
    ``grad_ys`` weights each y (default: ones). Sparse gradients come back dense.
    Raises InvalidArgumentError when TensorFlow cannot differentiate the graph.
    """
    del colocate_gradients_with_ops, gate_gradients, aggregation_method
    graph = get_default_graph()
    y_list = [convert_to_tensor(y) for y in _as_list(ys)]
    x_list = [x.handle if hasattr(x, "handle") and hasattr(x, "initial_value") else convert_to_tensor(x)
              for x in _as_list(xs)]
    gy_list: list[Tensor] = []
    if grad_ys is not None:
        gy_items = _as_list(grad_ys)
        if len(gy_items) != len(y_list):
            raise ValueError(f"tf.gradients: {len(gy_items)} grad_ys for {len(y_list)} ys")
        gy_list = [convert_to_tensor(g, dtype=None if isinstance(g, Tensor) else y.dtype)
                   for g, y in zip(gy_items, y_list)]
    stops = [convert_to_tensor(s) for s in _as_list(stop_gradients)] if stop_gradients is not None else []
    for t in [*y_list, *x_list, *gy_list, *stops]:
        if t.graph is not graph:
            raise ValueError(f"tf.gradients: tensor {t.name!r} belongs to another graph than the default graph")
    link = worker_link()
    if link is None:
        raise RuntimeError("tf.gradients needs a worker: import gentf.tf (it installs one)")
    needed = _ancestors([t.op for t in [*y_list, *x_list, *gy_list, *stops]])
    scope = graph.unique_scope(name or "gradients")
    request = worker_pb2.AddGradientsRequest(
        ys=[t.name for t in y_list], xs=[t.name for t in x_list],
        grad_ys=[t.name for t in gy_list], stop_gradients=[t.name for t in stops], name_scope=scope)
    request.nodes.extend(_wire(op) for op in graph.operations if op.name in needed)
    reply = link.call(graph, "AddGradients", request)
    _mirror(graph, reply)
    return [graph.get_tensor_by_name(g) if g else None for g in reply.grads]


def _input_groups(op_type: str, attrs: Any, count: int) -> list[int]:
    try:
        op_def = registry().get(op_type)
    except Exception:  # noqa: BLE001 - an op this client's registry lacks: one group
        return [count]
    groups = []
    for arg in op_def.inputs:
        if arg.number_attr and arg.number_attr in attrs:
            groups.append(int(attrs[arg.number_attr].i))
        elif arg.type_list_attr and arg.type_list_attr in attrs:
            groups.append(len(attrs[arg.type_list_attr].list.type))
        else:
            groups.append(1)
    return groups if sum(groups) == count else [count]


def _mirror(graph: Graph, reply: Any) -> None:
    """Adds the worker's gradient nodes to ``graph`` with their dtypes and static shapes."""
    with graph._lock:
        for node, info in zip(reply.nodes, reply.infos):
            data: list[Tensor] = []
            controls: list[Operation] = []
            for text in node.inputs:
                if text.startswith("^"):
                    controls.append(graph.get_operation_by_name(text[1:]))
                else:
                    data.append(graph.get_tensor_by_name(text if ":" in text else f"{text}:0"))
            attrs = {key: node.attrs[key] for key in node.attrs}
            dtypes = [as_dtype(int(o.dtype)) for o in info.outputs]
            op = Operation(graph, node.name, node.op, data,
                           _input_groups(node.op, attrs, len(data)), attrs, dtypes, controls)
            op.explicit_name = True
            for tensor, out in zip(op.outputs, info.outputs):
                if not out.shape.unknown_rank:
                    tensor.set_shape([None if d < 0 else int(d) for d in out.shape.dims])
            if node.op == "Const" and "value" in node.attrs:
                from gentf.wire import decode_tensor

                op.const_value = decode_tensor(node.attrs["value"].tensor)  # type: ignore[attr-defined]
            graph.add(op)
