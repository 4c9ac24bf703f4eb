"""``uniform(low, high)``: the continuous uniform distribution on ``[low, high]``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._support import mask

__all__ = ["Uniform", "uniform"]


class Uniform(ElementwiseDistribution):
    """``x = uniform(low, high) @ addr``; broadcast over array arguments."""

    name = "uniform"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of ``low`` and ``high``."""
        low, high = args
        return rng.uniform(low, high)

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``-log(high - low)`` per element inside ``[low, high]``, ``-inf`` outside."""
        low, high = args
        x = np.asarray(value)
        inside = (x >= low) & (x <= high)
        return mask(inside, -np.log(np.asarray(high) - low) + 0.0 * x)

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = 0``, ``d/dlow = 1/(high-low)``, ``d/dhigh = -1/(high-low)``."""
        low, high = args
        inv = 1.0 / (np.asarray(high) - low)
        return 0.0 * np.asarray(value, dtype=np.float64), inv, -inv


uniform = Uniform()
