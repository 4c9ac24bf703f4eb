"""A graph slow enough to run past a short per-call deadline, for the deadline tests."""

from __future__ import annotations

from typing import Any

from gentf import tf


def slow_chain(size: int = 1500, depth: int = 200) -> tuple[Any, Any]:
    """``(m, total)`` in the default graph: ``total`` is ``depth`` rounds of
    ``tanh(y @ m)`` on a ``size`` x ``size`` placeholder ``m``, summed: seconds of work on
    2 cores, for deadline tests."""
    m = tf.placeholder(tf.float32, shape=(size, size), name="m")
    y = m
    for _ in range(depth):
        y = tf.tanh(tf.matmul(y, m))
    return m, tf.reduce_sum(y)
