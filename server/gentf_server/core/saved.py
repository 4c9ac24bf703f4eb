"""A function's forward that keeps what its parameter gradients need, and that gradient.

Accumulating a kept trace's parameter gradients normally runs the forward again from the
trace's arguments, because the gradient's ops read the forward's intermediate values (a
layer's input activations, a softmax's output). :class:`SavedForward` splits the work the
way reverse-mode differentiation does in one process: its forward also returns those
intermediate values (the *saved tensors*), and its backward takes them instead of running
the forward again. For a network with a hidden layer this removes a whole matrix product
per step.

How: the forward's subgraph and ``tf.gradients`` of its output with respect to the
parameters are traced together into one graph (``tf.compat.v1.wrap_function``); every
tensor of the forward that a gradient op reads is saved (variables' values too: the backward
reads no variable, so nothing orders it against later writes); ``prune`` cuts that graph into
the forward (arguments in; return value and saved tensors out) and the backward (arguments,
return value, saved tensors and the return value's gradient in; parameter gradients out).
The backward has the arguments too, so any forward op it still needs runs again there:
the result is the one the forward run again gives, op for op.

The saved tensors hold the parameters' values of the forward's call: the caller uses them
only while no variable has been written since (see ``Session``), and otherwise runs the
forward again as before. Only pure forwards are split (no op that writes, draws random
numbers or has other effects; no control flow), on one device without a distribution
strategy; :func:`split` returns None for any other, and the function works as before.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

__all__ = ["SavedForward", "split"]

_log = logging.getLogger("gentf_server")

_CONTROL_FLOW = frozenset({
    "Switch", "RefSwitch", "Merge", "RefMerge", "Enter", "RefEnter", "Exit", "RefExit",
    "NextIteration", "RefNextIteration", "LoopCond", "ControlTrigger", "While",
    "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase", "PartitionedCall",
    "StatefulPartitionedCall", "SymbolicGradient"})
"""Ops whose gradients reach into the forward's internals: their functions are not split."""


class SavedForward:
    """The split forward and parameter backward of one function (see the module docstring).

    ``forward(*args)`` returns ``[retval, *saved]``; ``backward(*args, retval, *saved,
    grad)`` returns the gradient of ``<retval, grad>`` with respect to each parameter in
    ``params`` whose gradient is not structurally zero (``nonzero[i]`` says which). Both
    are concrete functions, callable eagerly or inside a function being traced.
    """

    def __init__(self, forward: Any, backward: Any, saved_specs: list[tf.TensorSpec],
                 nonzero: list[bool]) -> None:
        self.forward = forward
        self.backward = backward
        self.saved_specs = saved_specs
        """The saved tensors' specs (the return value's first)."""
        self.nonzero = nonzero


def split(importer: Any, input_specs: Sequence[tf.TensorSpec], grad_spec: tf.TensorSpec,
          param_nodes: Sequence[str], what: str) -> SavedForward | None:
    """Splits the function ``importer`` imports (see :class:`SavedForward`) with respect to
    the variables ``param_nodes`` (those the forward does not read have zero gradients);
    None when its forward cannot be split."""
    ops = {node.op for node in importer.graph_def.node}
    if ops & _CONTROL_FLOW or any(_writes_or_draws(op) for op in ops):
        return None
    try:
        return _split(importer, input_specs, grad_spec, param_nodes)
    except Exception:  # noqa: BLE001  (any trouble: the function runs its forward again)
        _log.debug("%s: forward not split; its gradients run it again", what, exc_info=True)
        return None


def _split(importer: Any, input_specs: Sequence[tf.TensorSpec], grad_spec: tf.TensorSpec,
           param_nodes: Sequence[str]) -> SavedForward | None:
    used = [n in importer.variable_nodes for n in param_nodes]
    traced: dict[str, Any] = {}

    def joint(*flat: Any) -> Any:
        *args, grad = flat
        (y,) = importer(args)
        handles = [importer.handle(n) for n, u in zip(param_nodes, used) if u]
        traced["forward_ops"] = set(tf.compat.v1.get_default_graph().get_operations())
        traced["y"] = y
        grads = tf.gradients(y, handles, grad_ys=grad) if handles else []
        traced["grads"] = [None if g is None else tf.convert_to_tensor(g) for g in grads]
        return y

    wrapped = tf.compat.v1.wrap_function(joint, [*input_specs, grad_spec])
    graph = wrapped.graph
    y, grads, forward_ops = traced["y"], traced["grads"], traced["forward_ops"]
    nonzero_grads = [g for g in grads if g is not None]
    if not nonzero_grads:
        return None
    saved_tensors = _saved_tensors(nonzero_grads, forward_ops, {t.ref() for t in graph.inputs}, y)
    if saved_tensors is None:
        return None
    args = list(graph.inputs[: len(input_specs)])
    grad_in = graph.inputs[len(input_specs)]
    forward = wrapped.prune(feeds=args, fetches=[y, *saved_tensors])
    backward = wrapped.prune(feeds=[*args, y, *saved_tensors, grad_in],
                             fetches=nonzero_grads)
    if _reads_a_variable(backward.outputs):
        # Inlined into a fused call, the call's later writes would be ordered only after
        # the backward's effects, not after such a read.
        return None
    nonzero = []
    it = iter(grads)
    for u in used:
        nonzero.append(u and next(it) is not None)
    specs = [tf.TensorSpec(t.shape, t.dtype) for t in [y, *saved_tensors]]
    return SavedForward(forward, backward, specs, nonzero)


def _saved_tensors(grads: Sequence[Any], forward_ops: set[Any], fed: set[Any],
                   y: Any) -> list[Any] | None:
    """The forward's tensors that the ops computing ``grads`` read (walking back from them
    through the gradient's own ops), but for the fed ones (the arguments, the gradient, the
    captured variable handles) and the return value (always saved, first). None when one
    of them is a handle."""
    saved: dict[Any, Any] = {}
    stack = [g.op for g in grads]
    seen: set[Any] = set()
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        for t in op.inputs:
            if t.ref() in fed:
                continue
            if t.op not in forward_ops:
                stack.append(t.op)
            elif t.ref() != y.ref():
                if t.dtype in (tf.resource, tf.variant):
                    return None
                saved.setdefault(t.ref(), t)
        stack += [c for c in op.control_inputs if c not in forward_ops]
    return list(saved.values())


def _reads_a_variable(outputs: Sequence[Any]) -> bool:
    """Whether an op that ``outputs`` need takes a resource (a variable's handle)."""
    stack = [t.op for t in outputs]
    seen: set[Any] = set()
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        if any(t.dtype == tf.resource for t in op.inputs):
            return True
        stack += [t.op for t in op.inputs] + list(op.control_inputs)
    return False


def _writes_or_draws(op_name: str) -> bool:
    """Whether an op is stateful in any way but reading a variable."""
    from tensorflow.python.framework import op_def_registry

    if op_name in ("ReadVariableOp", "VariableShape", "VarIsInitializedOp", "ResourceGather",
                   "ResourceGatherNd"):
        return False
    op_def = op_def_registry.get(op_name)
    return op_def is None or bool(op_def.is_stateful)
