"""Central finite differences for gradient checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def fd_grad(f: Callable[[np.ndarray], float], x: Any, eps: float = 1e-6) -> np.ndarray:
    """The central-difference gradient of scalar ``f`` at ``x`` (same shape as ``x``)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad
