"""``uniform_discrete(low, high)``: an integer uniform on ``low .. high`` (both included)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import Distribution

__all__ = ["UniformDiscrete", "uniform_discrete"]


class UniformDiscrete(Distribution):
    """``k = uniform_discrete(low, high) @ addr``: integers ``low <= k <= high``, as in Gen."""

    name = "uniform_discrete"
    is_discrete = True
    has_output_grad = False
    has_argument_grads = (False, False)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """An int (or int array of the broadcast shape)."""
        low, high = args
        draw = rng.integers(low, np.asarray(high) + 1)
        return int(draw) if np.ndim(draw) == 0 else draw

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``-log(high - low + 1)`` per element in range, ``-inf`` outside."""
        low, high = args
        v = np.asarray(value)
        inside = (v >= low) & (v <= high) & (np.mod(v, 1) == 0)
        lp = -np.log(np.asarray(high, dtype=np.float64) - low + 1.0) + np.zeros(np.shape(v))
        return float(np.sum(np.where(inside, lp, -np.inf)))


uniform_discrete = UniformDiscrete()
