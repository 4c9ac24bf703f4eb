"""``tf.gradients`` for a client's graph, with TensorFlow's own gradient registry.

The client sends the nodes its gradients depend on; they are validated exactly as graph
growth is (names, ops, attributes, refused ops, cycles), imported into a scratch
``tf.Graph``, and TensorFlow builds the gradient nodes there. The new nodes go back as wire
NodeDefs, which the client adds to its graph and later sends like any others. Nothing is
kept: no session is needed and nothing on the worker changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tensorflow as tf
from gentf.v1 import graph_pb2

from gentf_server.core import errors
from gentf_server.core.convert import attr_from_tf
from gentf_server.core.graph import SessionGraph, parse_input, tensor_name
from gentf_server.core.registry import OpRegistry

__all__ = ["GradientNodes", "add_gradients"]


@dataclass
class GradientNodes:
    """The result of :func:`add_gradients`."""

    nodes: list[graph_pb2.NodeDef]
    """The new nodes, inputs first."""
    outputs: list[list[tuple[tf.DType, tf.TensorShape]]]
    """Per new node: each output's dtype and static shape."""
    grads: list[str]
    """Per x: the gradient tensor name, or "" when no y depends on x."""


def add_gradients(
    registry: OpRegistry,
    nodes: Sequence[graph_pb2.NodeDef],
    ys: Sequence[str],
    xs: Sequence[str],
    grad_ys: Sequence[str],
    stop_gradients: Sequence[str],
    name_scope: str,
) -> GradientNodes:
    """Builds ``tf.gradients(ys, xs, grad_ys, stop_gradients)`` under ``name_scope``.

    Raises InvalidArgument (naming the node or tensor at fault) for bad nodes, unknown
    tensor names, a used or invalid name scope, or a gradient TensorFlow cannot build or
    the wire cannot carry; PermissionDenied for a refused op.
    """
    if not ys:
        raise errors.InvalidArgument("AddGradients: ys is empty")
    if grad_ys and len(grad_ys) != len(ys):
        raise errors.InvalidArgument(
            f"AddGradients: {len(grad_ys)} grad_ys for {len(ys)} ys (give one per y, or none)")
    scope = name_scope.strip("/") or "gradients"
    graph = SessionGraph(registry)
    graph.commit(graph.plan_extend(list(nodes)))
    if scope in graph.nodes or any(n.startswith(scope + "/") for n in graph.nodes):
        raise errors.InvalidArgument(f"AddGradients: name scope {scope!r} is already used by a node")
    for what, names in (("y", ys), ("x", xs), ("grad_y", grad_ys), ("stop_gradient", stop_gradients)):
        for text in names:
            graph.output(text, what)
    scratch = tf.Graph()
    with scratch.as_default():
        tf.graph_util.import_graph_def(graph.subgraph_def(list(graph.nodes), set()), name="")
        before = {op.name for op in scratch.get_operations()}

        def get(names: Sequence[str]) -> list[tf.Tensor]:
            return [scratch.get_tensor_by_name(tensor_name(t)) for t in names]

        try:
            grads = tf.compat.v1.gradients(
                get(ys), get(xs), grad_ys=get(grad_ys) if grad_ys else None,
                stop_gradients=get(stop_gradients) or None, name=scope)
            with scratch.name_scope(scope + "/"):
                dense = [None if g is None else tf.convert_to_tensor(g) for g in grads]
        except (LookupError, ValueError, TypeError) as exc:
            raise errors.InvalidArgument(f"AddGradients: TensorFlow cannot differentiate: {exc}") from None
    new_ops = [op for op in scratch.get_operations() if op.name not in before]
    out = GradientNodes([], [], [g.name if g is not None else "" for g in dense])
    for op in new_ops:
        if not op.name.startswith(scope + "/"):
            raise errors.InvalidArgument(
                f"AddGradients: TensorFlow built node {op.name!r} outside the name scope {scope!r}")
        out.nodes.append(_to_wire(op))
        out.outputs.append([(t.dtype, t.shape) for t in op.outputs])
    for g in out.grads:  # a gradient can be an input itself (d x / d x)
        if g and parse_input(g)[0] not in graph.nodes and not any(n.name == parse_input(g)[0] for n in out.nodes):
            raise errors.InvalidArgument(f"AddGradients: gradient {g!r} names no node")
    return out


def _to_wire(op: tf.Operation) -> graph_pb2.NodeDef:
    """A scratch-graph operation as a wire NodeDef (private ``_`` attributes dropped)."""
    node_def = op.node_def
    wire = graph_pb2.NodeDef(name=node_def.name, op=node_def.op)
    wire.inputs.extend(node_def.input)
    for key, value in node_def.attr.items():
        if key.startswith("_"):
            continue
        converted = attr_from_tf(value)
        if converted.WhichOneof("value") is None and value.WhichOneof("value") is not None:
            raise errors.InvalidArgument(
                f"AddGradients: the gradient needs op {op.type} ({op.name!r}) with attribute "
                f"{key!r} of a kind gentf cannot carry ({value.WhichOneof('value')})")
        wire.attrs[key].CopyFrom(converted)
    return wire
