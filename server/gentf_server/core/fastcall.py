"""Calling a compiled (concrete) function with less of TensorFlow's Python around it.

A concrete function's own call (``ConcreteFunction._call_flat``) walks about ten Python
layers before TensorFlow's C++ runs the function: tape checks, the captured inputs
flattened again, three context managers, the call options turned into attributes, the
outputs packed into their structure. On the reference VM that is about 100 us a call
before any kernel runs (a trivial function: 198 us through it, 97 us without it), paid on
every step the worker serves.

:func:`call_flat` runs the function through ``TFE_Py_Execute`` itself, as TensorFlow's
innermost Python layer does, with what does not change between calls worked out once per
function (its name, output count, captured inputs, output structure). It takes that path
only where it is the same call: eager execution, no tape or forward accumulator watching,
no cancellation scope, captured inputs that are tensors (not deferred), outputs without
handle data, and an output structure that is one tensor, a flat sequence of tensors, or
none. Anything else, or a TensorFlow without these internals, goes through the concrete
function's own call. Errors are TensorFlow's ``tf.errors.OpError`` as either way.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

try:  # TensorFlow's internals; without them every call takes the concrete function's path
    from tensorflow.python import pywrap_tfe
    from tensorflow.python.eager import cancellation, context, core, record
except ImportError:  # pragma: no cover - a TensorFlow that moved them
    pywrap_tfe = None

__all__ = ["call_flat"]


@dataclass(frozen=True)
class _Plan:
    """What a call of one concrete function needs that does not change between calls."""

    name: str
    outputs: int
    captures: tuple[Any, ...]
    single: bool  # the structured output is one tensor (else a flat sequence, or None)


_PLANS: weakref.WeakKeyDictionary[Any, _Plan | None] = weakref.WeakKeyDictionary()


def _plan(function: Any) -> _Plan | None:
    try:
        return _PLANS[function]
    except KeyError:
        pass
    except TypeError:  # not weakly referable: not a concrete function
        return None
    plan = None
    try:
        inference = function._inference_function
        outputs = list(inference.function_type.flat_outputs)
        structure = function.structured_outputs
        tensors = all(isinstance(t, tf.Tensor) for t in
                      (structure if isinstance(structure, (list, tuple)) else [structure]))
        flat = (structure is None and not outputs) or (
            isinstance(structure, (list, tuple)) and len(structure) == len(outputs) > 0
            and tensors) or (isinstance(structure, tf.Tensor) and len(outputs) == 1)
        deferred = any(callable(c) for c in function._captured_inputs)
        handle_data = any(getattr(o.dtype, "_handle_data", None) for o in outputs)
        if flat and not deferred and not handle_data:
            plan = _Plan(inference.name.decode(), len(outputs), tuple(function.captured_inputs),
                         isinstance(structure, tf.Tensor))
    except (AttributeError, TypeError):
        plan = None
    _PLANS[function] = plan
    return plan


def call_flat(function: Any, args: Sequence[Any]) -> Any:
    """``function(*args)`` for a concrete function whose every argument is a tensor already
    checked against its signature: its structured output (one tensor, a sequence of
    tensors, or None). Never TensorFlow's per-call binding of the arguments to the signature
    (about 20 us an argument): the short path, else ``_call_flat``; a callable without
    that entry point is called the ordinary way."""
    plan = _plan(function) if pywrap_tfe is not None else None
    if plan is not None:
        ctx = context.context()
        if (ctx.executing_eagerly() and not record.could_possibly_record()
                and cancellation.context() is None):
            attrs = tuple(itertools.chain(*ctx.function_call_options.as_attrs().items()))
            try:
                out = pywrap_tfe.TFE_Py_Execute(ctx._handle, ctx.device_name, plan.name,
                                                [*args, *plan.captures], attrs, plan.outputs)
            except core._NotOkStatusException as exc:
                raise core._status_to_exception(exc) from None
            if plan.single:
                return out[0]
            return out if plan.outputs else None
    flat = getattr(function, "_call_flat", None)
    if flat is None:
        return function(*args)
    return flat(list(args), function.captured_inputs)
