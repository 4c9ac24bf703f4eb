"""``inv_gamma(shape, scale)``: the inverse gamma distribution on ``x > 0``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._special import digamma, gammaln
from gentf.dsl.distributions._support import mask, restrict, zero_outside

__all__ = ["InvGamma", "inv_gamma"]


class InvGamma(ElementwiseDistribution):
    """``x = inv_gamma(shape, scale) @ addr``: ``1/x ~ gamma(shape, 1/scale)``; broadcast."""

    name = "inv_gamma"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of the arguments."""
        k, theta = args
        return 1.0 / rng.gamma(k, 1.0 / np.asarray(theta, dtype=np.float64))

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``k log theta - log Gamma(k) - (k+1) log x - theta/x`` for ``x > 0``."""
        k, theta = np.asarray(args[0]), np.asarray(args[1])
        v = np.asarray(value)
        inside = v > 0
        x = restrict(inside, v, 1.0)
        return mask(inside, k * np.log(theta) - gammaln(k) - (k + 1) * np.log(x) - theta / x)

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = theta/x^2 - (k+1)/x``, ``d/dk = log theta - psi(k) - log x``,
        ``d/dtheta = k/theta - 1/x``."""
        k, theta = np.asarray(args[0], dtype=np.float64), np.asarray(args[1], dtype=np.float64)
        v = np.asarray(value)
        inside = v > 0
        x = restrict(inside, v, 1.0)
        return (zero_outside(inside, theta / (x * x) - (k + 1) / x),
                zero_outside(inside, np.log(theta) - digamma(k) - np.log(x)),
                zero_outside(inside, k / theta - 1 / x))


inv_gamma = InvGamma()
