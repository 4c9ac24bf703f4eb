"""``gamma(shape, scale)``: the gamma distribution on ``(0, inf)`` (Gen's parameterization)."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import gammaln

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._support import raw, restrict, total

__all__ = ["Gamma", "gamma"]


class Gamma(Distribution):
    """``x = gamma(shape, scale) @ addr``: mean ``shape * scale``; broadcast over arrays."""

    name = "gamma"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of the arguments."""
        k, theta = args
        return rng.gamma(k, theta)

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``(k-1) log x - x/theta - log Gamma(k) - k log theta`` for ``x > 0``."""
        k, theta = args
        inside = raw(value) > 0
        x = restrict(inside, value, 1.0)
        return total(inside, (k - 1) * anp.log(x) - x / theta - gammaln(k) - k * anp.log(theta))


gamma = Gamma()
