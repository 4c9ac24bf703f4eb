"""Module-level parameter functions (Gen's ``init_param!``, ``get_param``, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl._gen_fn import GenFunction
from gentf.gfi._interface import GenerativeFunction

__all__ = ["get_param", "get_param_grad", "init_param", "set_param", "zero_param_grad"]


def _gen_fn(gen_fn: GenerativeFunction) -> GenFunction:
    if not isinstance(gen_fn, GenFunction):
        raise TypeError(
            f"this function works on @gen functions; got {type(gen_fn).__name__} "
            f"(a TFFunction's parameters live on its worker: use runtf)"
        )
    return gen_fn


def init_param(gen_fn: GenerativeFunction, name: str, value: Any) -> None:
    """``init_param(gen_fn, name, value)``: declare or reset a parameter; zeroes its gradient."""
    _gen_fn(gen_fn).init_param(name, value)


def get_param(gen_fn: GenerativeFunction, name: str) -> np.ndarray:
    """``value = get_param(gen_fn, name)``: the current value (read-only view)."""
    return _gen_fn(gen_fn).get_param(name)


def set_param(gen_fn: GenerativeFunction, name: str, value: Any) -> None:
    """``set_param(gen_fn, name, value)``: overwrite the value (same shape)."""
    _gen_fn(gen_fn).set_param(name, value)


def get_param_grad(gen_fn: GenerativeFunction, name: str) -> np.ndarray:
    """``grad = get_param_grad(gen_fn, name)``: the accumulated gradient (a copy)."""
    return _gen_fn(gen_fn).get_param_grad(name)


def zero_param_grad(gen_fn: GenerativeFunction, name: str) -> None:
    """``zero_param_grad(gen_fn, name)``: reset the accumulated gradient to zero."""
    _gen_fn(gen_fn).zero_param_grad(name)
