"""Checking client tensors against what a function or placeholder expects."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from gentf_server.core import errors

__all__ = ["check_value", "expected", "fits"]

_Expected = tuple["np.dtype[Any] | None", "tuple[int | None, ...] | None"]
_EXPECTED: dict[tuple[Any, Any], _Expected] = {}
_MAX_EXPECTED = 4096


def expected(dtype: tf.DType, shape: tf.TensorShape | tuple[int, ...]) -> _Expected:
    """(numpy dtype or None for strings, dims or None for an unknown rank), kept per
    (dtype, shape): TensorFlow's own DType and TensorShape comparisons are Python code that
    would otherwise run on every argument of every call."""
    key = (dtype, shape)
    found = _EXPECTED.get(key)
    if found is None:
        np_dtype = (np.dtype(dtype.as_numpy_dtype)
                    if dtype != tf.string and dtype.is_numpy_compatible else None)
        if isinstance(shape, tuple):
            dims: tuple[int | None, ...] | None = shape
        else:
            dims = None if shape.rank is None else tuple(shape.as_list())
        found = (np_dtype, dims)
        if len(_EXPECTED) < _MAX_EXPECTED:
            _EXPECTED[key] = found
    return found


def check_value(value: np.ndarray[Any, Any], dtype: tf.DType,
                shape: tf.TensorShape | tuple[int, ...], what: str) -> None:
    """InvalidArgument naming ``what`` unless ``value`` has exactly ``dtype`` and a shape
    compatible with ``shape`` (a TensorShape, or a tuple of ints that must match exactly)."""
    if fits(value, expected(dtype, shape)):
        return
    _check_slowly(value, dtype, tf.TensorShape(shape) if isinstance(shape, tuple) else shape,
                  what)


def fits(value: np.ndarray[Any, Any], want: _Expected) -> bool:
    """Whether numeric ``value`` has ``want``'s dtype and a shape its dims allow (what
    :func:`expected` gave); False for a string ``want`` (those take the slow check)."""
    np_dtype, dims = want
    if np_dtype is None or value.dtype != np_dtype:
        return False
    if dims is None:
        return True
    shape = value.shape
    if len(shape) != len(dims):
        return False
    for d, g in zip(dims, shape):
        if d is not None and d != g:
            return False
    return True


def _check_slowly(value: np.ndarray[Any, Any], dtype: tf.DType, shape: tf.TensorShape,
                  what: str) -> None:
    got = tf.as_dtype(value.dtype) if value.dtype != object else tf.string
    if got != dtype:
        raise errors.InvalidArgument(f"{what}: expected dtype {dtype.name}, got {got.name}")
    if not shape.is_compatible_with(value.shape):
        raise errors.InvalidArgument(
            f"{what}: expected shape {_fmt(shape)}, got {list(value.shape)}")


def _fmt(shape: tf.TensorShape) -> str:
    if shape.rank is None:
        return "(any)"
    return "[" + ", ".join("None" if d is None else str(d) for d in shape.as_list()) + "]"
