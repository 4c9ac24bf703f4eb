"""Helpers for log densities with a restricted support (numpy, warning-free)."""

from __future__ import annotations

from typing import Any

import numpy as np

NEG_INF = -np.inf


def restrict(inside: Any, value: Any, safe: float) -> Any:
    """``value`` where ``inside``, else ``safe``: keeps log/gammaln away from bad inputs."""
    return np.where(inside, value, safe)


def mask(inside: Any, terms: Any) -> Any:
    """``terms`` where ``inside``, ``-inf`` elsewhere (broadcast together)."""
    return np.where(inside, terms, NEG_INF)


def zero_outside(inside: Any, grad: Any) -> Any:
    """``grad`` where ``inside``, 0 elsewhere (the gradient is undefined off the support)."""
    return np.where(inside, grad, 0.0)


def is_integer(v: Any) -> Any:
    """Elementwise: is ``v`` a whole number."""
    return np.mod(v, 1) == 0
