"""``uniform(low, high)``: the continuous uniform distribution on ``[low, high]``."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._support import raw, total

__all__ = ["Uniform", "uniform"]


class Uniform(Distribution):
    """``x = uniform(low, high) @ addr``; broadcast over array arguments."""

    name = "uniform"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of ``low`` and ``high``."""
        low, high = args
        return rng.uniform(low, high)

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``-log(high - low)`` per element inside ``[low, high]``, ``-inf`` outside."""
        low, high = args
        inside = (raw(value) >= low) & (raw(value) <= high)
        return total(inside, -anp.log(high - low) + 0.0 * value)


uniform = Uniform()
