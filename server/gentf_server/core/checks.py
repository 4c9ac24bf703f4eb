"""Checking client tensors against what a function or placeholder expects."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from gentf_server.core import errors

__all__ = ["check_value"]


def check_value(value: np.ndarray[Any, Any], dtype: tf.DType, shape: tf.TensorShape, what: str) -> None:
    """InvalidArgument naming ``what`` unless ``value`` has exactly ``dtype`` and a compatible shape."""
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
