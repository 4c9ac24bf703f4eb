"""``logsumexp``: ``log(sum(exp(x)))`` without overflow."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["logsumexp"]


def logsumexp(values: Any) -> float:
    """``lse = logsumexp(values)``: ``log(sum(exp(values)))``; ``-inf`` for no or all ``-inf`` values."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        return float("-inf")
    top = float(np.max(arr))
    if top == float("inf"):
        return top
    if top == float("-inf"):
        return top
    return top + float(np.log(np.sum(np.exp(arr - top))))
