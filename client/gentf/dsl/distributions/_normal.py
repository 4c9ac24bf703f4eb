"""``normal(mu, std)``: the normal distribution, broadcast over array arguments."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution

__all__ = ["Normal", "normal"]

_LOG_2PI = float(np.log(2.0 * np.pi))


class Normal(ElementwiseDistribution):
    """``x = normal(mu, std) @ addr``: mean ``mu``, standard deviation ``std`` (> 0).

    Array arguments broadcast; the value has the broadcast shape and ``logpdf`` sums the
    elementwise log densities.
    """

    name = "normal"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of ``mu`` and ``std``."""
        mu, std = args
        return rng.normal(mu, std)

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``-0.5 ((x-mu)/std)^2 - log std - 0.5 log 2pi`` elementwise."""
        mu, std = args
        z = (np.asarray(value) - mu) / std
        return -0.5 * z * z - np.log(std) - 0.5 * _LOG_2PI

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = -z/std``, ``d/dmu = z/std``, ``d/dstd = (z^2 - 1)/std``."""
        mu, std = args
        z = (np.asarray(value) - mu) / std
        dmu = z / std
        return -dmu, dmu, (z * z - 1.0) / std


normal = Normal()
