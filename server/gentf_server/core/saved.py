"""A function's forward that keeps what its gradients need, and those gradients.

Taking a kept trace's gradients normally runs the forward again from the trace's
arguments, because the gradient's ops read the forward's intermediate values (a layer's
input activations, a softmax's output). :class:`SavedForward` splits the work the way
reverse-mode differentiation does in one process: its forward also returns those
intermediate values (the *saved tensors*), and its backward takes them instead of running
the forward again. For a network with a hidden layer this removes a whole matrix product
per step.

How: the forward's subgraph and ``tf.gradients`` of its output with respect to the
floating-point arguments and the parameters are traced together into one graph
(``tf.compat.v1.wrap_function``); every tensor of the forward that a gradient op reads is
saved (variables' values too: the backward reads no variable, so nothing needs to order it
against later writes); ``prune`` cuts that graph into the forward (arguments in; return
value and saved tensors out) and three backwards (arguments, return value, saved tensors
and the return value's gradient in; the parameter gradients, the argument gradients, or
both out). A backward has the arguments too, so any forward op it still needs runs again
there: the result is the one the forward run again gives, op for op.

The saved tensors hold the parameters' values of the forward's call: the caller uses them
only while no variable has been written since (see ``Session``), and otherwise runs the
forward again as before. Only pure forwards are split (no op that writes, draws random
numbers or has other effects; no control flow), on one device without a distribution
strategy, with at least one parameter gradient that is not structurally zero;
:func:`split` returns None for any other, and the function works as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import tensorflow as tf

from gentf_server.core.registry import has_effects

__all__ = ["SavedForward", "split"]

_log = logging.getLogger("gentf_server")

_CONTROL_FLOW = frozenset({
    "Switch", "RefSwitch", "Merge", "RefMerge", "Enter", "RefEnter", "Exit", "RefExit",
    "NextIteration", "RefNextIteration", "LoopCond", "ControlTrigger", "While",
    "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase", "PartitionedCall",
    "StatefulPartitionedCall", "SymbolicGradient"})
"""Ops whose gradients reach into the forward's internals: their functions are not split."""


class SavedForward:
    """The split forward and backward of one function (see the module docstring).

    ``forward(*args)`` returns ``[retval, *saved]``. ``backward(with_args, with_params)``
    is the concrete function taking ``(*args, retval, *saved, grad)`` and returning the
    gradients of ``<retval, grad>`` that are not structurally zero: with respect to the
    arguments (``arg_nonzero[i]`` says which) when ``with_args``, then the parameters
    (``param_nonzero[i]``) when ``with_params``. All are concrete functions, callable
    eagerly or inside a function being traced.
    """

    def __init__(self, forward: Any, backwards: dict[tuple[bool, bool], Any],
                 saved_specs: list[tf.TensorSpec], arg_nonzero: list[bool],
                 param_nonzero: list[bool]) -> None:
        self.forward = forward
        self._backwards = backwards
        self.saved_specs = saved_specs
        """The saved tensors' specs (the return value's first)."""
        self.arg_nonzero = arg_nonzero
        self.param_nonzero = param_nonzero

    def backward(self, with_args: bool, with_params: bool) -> Any:
        """The backward computing the chosen gradients; None when all of them are zero."""
        return self._backwards.get((with_args, with_params))


def split(importer: Any, input_specs: Sequence[tf.TensorSpec], grad_spec: tf.TensorSpec,
          param_nodes: Sequence[str], what: str) -> SavedForward | None:
    """Splits the function ``importer`` imports (see :class:`SavedForward`) with respect to
    its floating-point arguments and the variables ``param_nodes`` (those the forward does
    not read have zero gradients); None when its forward cannot be split."""
    ops = {node.op for node in importer.graph_def.node}
    if ops & _CONTROL_FLOW or any(has_effects(op) for op in ops):
        return None
    try:
        return _split(importer, input_specs, grad_spec, param_nodes)
    except Exception:  # noqa: BLE001  (any trouble: the function runs its forward again)
        _log.debug("%s: forward not split; its gradients run it again", what, exc_info=True)
        return None


def _split(importer: Any, input_specs: Sequence[tf.TensorSpec], grad_spec: tf.TensorSpec,
           param_nodes: Sequence[str]) -> SavedForward | None:
    used = [n in importer.variable_nodes for n in param_nodes]
    differentiable = [s.dtype.is_floating or s.dtype.is_complex for s in input_specs]
    traced: dict[str, Any] = {}

    def joint(*flat: Any) -> Any:
        *args, grad = flat
        (y,) = importer(args)
        xs = [a for a, d in zip(args, differentiable) if d]
        handles = [importer.handle(n) for n, u in zip(param_nodes, used) if u]
        traced["forward_ops"] = set(tf.compat.v1.get_default_graph().get_operations())
        traced["y"] = y
        grads = tf.gradients(y, xs + handles, grad_ys=grad) if xs or handles else []
        traced["grads"] = [None if g is None else tf.convert_to_tensor(g) for g in grads]
        traced["n_xs"] = len(xs)
        return y

    wrapped = tf.compat.v1.wrap_function(joint, [*input_specs, grad_spec])
    graph = wrapped.graph
    y, grads, forward_ops = traced["y"], traced["grads"], traced["forward_ops"]
    arg_grads, param_grads = grads[: traced["n_xs"]], grads[traced["n_xs"]:]
    nonzero_args = [g for g in arg_grads if g is not None]
    nonzero_params = [g for g in param_grads if g is not None]
    if not nonzero_params:
        return None  # nothing to accumulate: not worth saving anything
    saved_tensors = _saved_tensors(nonzero_args + nonzero_params, forward_ops,
                                   {t.ref() for t in graph.inputs}, y)
    if saved_tensors is None:
        return None
    args = list(graph.inputs[: len(input_specs)])
    feeds = [*args, y, *saved_tensors, graph.inputs[len(input_specs)]]
    forward = wrapped.prune(feeds=args, fetches=[y, *saved_tensors])
    backwards = {}
    for with_args, with_params in ((False, True), (True, True), (True, False)):
        fetches = (nonzero_args if with_args else []) + (nonzero_params if with_params else [])
        if not fetches:
            continue
        backward = wrapped.prune(feeds=feeds, fetches=fetches)
        if _reads_a_variable(backward.outputs):
            # Inlined into a fused call, the call's later writes would be ordered only
            # after the backward's effects, not after such a read.
            return None
        backwards[(with_args, with_params)] = backward
    it_args = iter(arg_grads)
    arg_nonzero = [d and next(it_args) is not None for d in differentiable]
    it_params = iter(param_grads)
    param_nonzero = [u and next(it_params) is not None for u in used]
    specs = [tf.TensorSpec(t.shape, t.dtype) for t in [y, *saved_tensors]]
    return SavedForward(forward, backwards, specs, arg_nonzero, param_nonzero)


def _saved_tensors(grads: Sequence[Any], forward_ops: set[Any], fed: set[Any],
                   y: Any) -> list[Any] | None:
    """The forward's tensors that the ops computing ``grads`` read (walking back from them
    through the gradient's own ops), but for the fed ones (the arguments, the gradient, the
    captured variable handles) and the return value (always saved, first). None when one
    of them is a handle."""
    saved: dict[Any, Any] = {}

    def gradient_inputs(op: Any) -> list[Any]:
        ops = []
        for t in op.inputs:
            if t.ref() in fed:
                continue
            if t.op not in forward_ops:
                ops.append(t.op)
            elif t.ref() != y.ref():
                saved.setdefault(t.ref(), t)
        return ops + [c for c in op.control_inputs if c not in forward_ops]

    for _ in _walk([g.op for g in grads], gradient_inputs):
        pass
    if any(t.dtype in (tf.resource, tf.variant) for t in saved.values()):
        return None
    return list(saved.values())


def _reads_a_variable(outputs: Sequence[Any]) -> bool:
    """Whether an op that ``outputs`` need takes a resource (a variable's handle)."""
    ops = _walk([t.op for t in outputs],
                lambda op: [t.op for t in op.inputs] + list(op.control_inputs))
    return any(t.dtype == tf.resource for op in ops for t in op.inputs)


def _walk(start: Sequence[Any], inputs_of: Callable[[Any], list[Any]]) -> Iterator[Any]:
    """Each op reached from ``start`` through ``inputs_of``, once."""
    stack, seen = list(start), set()
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        yield op
        stack += inputs_of(op)
