"""``exponential(rate)``: the exponential distribution on ``[0, inf)``."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._support import raw, restrict, total

__all__ = ["Exponential", "exponential"]


class Exponential(Distribution):
    """``x = exponential(rate) @ addr``: mean ``1/rate``; broadcast over arrays."""

    name = "exponential"
    has_argument_grads = (True,)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the shape of ``rate``."""
        (rate,) = args
        return rng.exponential(1.0 / np.asarray(rate, dtype=np.float64))

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``log rate - rate x`` for ``x >= 0``."""
        (rate,) = args
        inside = raw(value) >= 0
        x = restrict(inside, value, 0.0)
        return total(inside, anp.log(rate) - rate * x)


exponential = Exponential()
