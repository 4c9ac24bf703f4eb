"""``exponential(rate)``: the exponential distribution on ``x >= 0``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._support import mask, restrict, zero_outside

__all__ = ["Exponential", "exponential"]


class Exponential(ElementwiseDistribution):
    """``x = exponential(rate) @ addr``: mean ``1/rate``; broadcast over arrays."""

    name = "exponential"
    has_argument_grads = (True,)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the shape of ``rate``."""
        (rate,) = args
        return rng.exponential(1.0 / np.asarray(rate, dtype=np.float64))

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``log rate - rate x`` for ``x >= 0``."""
        rate = np.asarray(args[0])
        v = np.asarray(value)
        inside = v >= 0
        return mask(inside, np.log(rate) - rate * restrict(inside, v, 0.0))

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = -rate``, ``d/drate = 1/rate - x``."""
        rate = np.asarray(args[0], dtype=np.float64)
        v = np.asarray(value)
        inside = v >= 0
        x = restrict(inside, v, 0.0)
        return zero_outside(inside, -rate + 0.0 * x), zero_outside(inside, 1.0 / rate - x)


exponential = Exponential()
