"""Gradient-descent steps written out of place, so that no kept buffer is copied.

A session keeps references to variable values in order to undo a call that fails half way:
the values a fused call leaves (``Session.run_fused``) and the snapshot a run takes before
it writes (:mod:`gentf_server.core.snapshots`). TensorFlow's in-place training kernels copy
a buffer someone else holds before they write it (copy on write), so with those references
every ``ResourceApplyGradientDescent`` copied its variable whole, each step, before the
step itself. :func:`gradient_descent_out_of_place` rewrites each such node of a graph to
import into

    ReadVariableOp(var) - Mul(delta, alpha)  ->  AssignVariableOp(var)

whose result is a new tensor the variable adopts: one pass, no copy, and the kept buffer
stays as it was. The bits are the kernel's (``var -= delta * alpha``: the same product,
then the same subtraction, per element). The assignment keeps the original node's name,
inputs' order of effects (its control inputs go to the read too), device and colocation,
so targets and control dependencies naming the node hold.

A step along a negated gradient (``delta = Neg(x)``: gentf's ``ParamUpdate`` ascends, so its
gradient descent steps along ``-accumulator``) is written ``ReadVariableOp(var) + Mul(x,
alpha)``, one pass over the weights fewer: ``(-x) * alpha`` is ``-(x * alpha)`` exactly
and ``v - (-y)`` is ``v + y`` exactly in IEEE arithmetic (signed zeros and infinities
included; only a NaN's sign bit may differ). The ``Neg`` node stays for any other reader.

Not rewritten: the other optimizers' kernels (ADAM spelled out as elementwise ops measured
slower than its kernel with its copies, ``docs/performance.md``), and anything with a
``tf.distribute`` parameter-server coordinator, where the worker keeps no such references
and the kernel runs beside its variable on a ps task.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tensorflow.core.framework import graph_pb2, node_def_pb2

__all__ = ["gradient_descent_out_of_place"]

_SUFFIX = "/_gentf_out_of_place"


def gradient_descent_out_of_place(graph_def: graph_pb2.GraphDef) -> graph_pb2.GraphDef:
    """``graph_def`` with each ``ResourceApplyGradientDescent`` written out of place (the
    same object when it has none)."""
    if not any(node.op == "ResourceApplyGradientDescent" for node in graph_def.node):
        return graph_def
    by_name = {node.name: node for node in graph_def.node}
    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if _rewritable(node, by_name):
            out.node.extend(_rewritten(node, by_name))
        else:
            out.node.add().CopyFrom(node)
    return out


def _rewritable(node: node_def_pb2.NodeDef, names: Collection[str]) -> bool:
    """A ``ResourceApplyGradientDescent`` of the usual form (three data inputs, its dtype),
    whose new nodes' names are free."""
    if node.op != "ResourceApplyGradientDescent" or "T" not in node.attr:
        return False
    if sum(1 for text in node.input if not text.startswith("^")) != 3:
        return False  # (the graph's checks refuse it; left for TensorFlow to report)
    prefix = node.name + _SUFFIX + "/"
    return not any(name.startswith(prefix) for name in names)


def _negated(delta: str, dtype: Any, by_name: dict[str, node_def_pb2.NodeDef]) -> str | None:
    """``x`` when ``delta`` names the output of ``Neg(x)`` of the step's type, with no
    control input of its own (that the step would then skip); else None."""
    name = delta.removesuffix(":0")
    node = by_name.get(name)
    if node is None or node.op != "Neg" or len(node.input) != 1 \
            or node.input[0].startswith("^") or "T" not in node.attr \
            or node.attr["T"] != dtype:  # (reading a missing key would add it)
        return None
    return node.input[0]


def _rewritten(node: node_def_pb2.NodeDef,
               by_name: dict[str, node_def_pb2.NodeDef]) -> list[node_def_pb2.NodeDef]:
    data = [text for text in node.input if not text.startswith("^")]
    controls = [text for text in node.input if text.startswith("^")]
    var, alpha, delta = data
    dtype = node.attr["T"]
    ascent = _negated(delta, dtype, by_name)
    base = node.name + _SUFFIX

    def made(name: str, op: str, inputs: list[str], **attrs: Any) -> node_def_pb2.NodeDef:
        new = node_def_pb2.NodeDef(name=name, op=op, input=inputs, device=node.device)
        if "_class" in node.attr:
            new.attr["_class"].CopyFrom(node.attr["_class"])
        for key, value in attrs.items():
            new.attr[key].CopyFrom(value)
        return new

    read = made(f"{base}/read", "ReadVariableOp", [var, *controls], dtype=dtype)
    if ascent is None:  # var - delta * alpha, the kernel's arithmetic
        step = made(f"{base}/step", "Mul", [delta, alpha], T=dtype)
        new_value = made(f"{base}/new", "Sub", [f"{base}/read", f"{base}/step"], T=dtype)
    else:  # var - (-x) * alpha, written var + x * alpha (the same numbers)
        step = made(f"{base}/step", "Mul", [ascent, alpha], T=dtype)
        new_value = made(f"{base}/new", "AddV2", [f"{base}/read", f"{base}/step"], T=dtype)
    assign = made(node.name, "AssignVariableOp", [var, f"{base}/new", *controls], dtype=dtype)
    return [read, step, new_value, assign]
