"""``gamma(shape, scale)``: the gamma distribution on ``x > 0``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._special import digamma, gammaln
from gentf.dsl.distributions._support import mask, restrict, zero_outside

__all__ = ["Gamma", "gamma"]


class Gamma(ElementwiseDistribution):
    """``x = gamma(shape, scale) @ addr``: mean ``shape * scale``; broadcast over arrays."""

    name = "gamma"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of the arguments."""
        k, theta = args
        return rng.gamma(k, theta)

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``(k-1) log x - x/theta - log Gamma(k) - k log theta`` for ``x > 0``."""
        k, theta = np.asarray(args[0]), np.asarray(args[1])
        v = np.asarray(value)
        inside = v > 0
        x = restrict(inside, v, 1.0)
        return mask(inside, (k - 1) * np.log(x) - x / theta - gammaln(k) - k * np.log(theta))

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = (k-1)/x - 1/theta``, ``d/dk = log x - psi(k) - log theta``,
        ``d/dtheta = x/theta^2 - k/theta``."""
        k, theta = np.asarray(args[0], dtype=np.float64), np.asarray(args[1], dtype=np.float64)
        v = np.asarray(value)
        inside = v > 0
        x = restrict(inside, v, 1.0)
        return (zero_outside(inside, (k - 1) / x - 1 / theta),
                zero_outside(inside, np.log(x) - digamma(k) - np.log(theta)),
                zero_outside(inside, x / (theta * theta) - k / theta))


gamma = Gamma()
