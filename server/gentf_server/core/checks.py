"""Checking client tensors against what a function or placeholder expects."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from gentf_server.core import errors

__all__ = ["check_value"]

_Expected = tuple["np.dtype[Any] | None", "tuple[int | None, ...] | None"]
_EXPECTED: dict[tuple[Any, Any], _Expected] = {}
_MAX_EXPECTED = 4096


def _expected(dtype: tf.DType, shape: tf.TensorShape | tuple[int, ...]) -> _Expected:
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
    np_dtype, dims = _expected(dtype, shape)
    if np_dtype is not None and value.dtype == np_dtype:
        if dims is None:
            return
        got_shape = value.shape
        if len(got_shape) == len(dims) and all(
                d is None or d == g for d, g in zip(dims, got_shape)):
            return
    _check_slowly(value, dtype, tf.TensorShape(shape) if isinstance(shape, tuple) else shape,
                  what)


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
