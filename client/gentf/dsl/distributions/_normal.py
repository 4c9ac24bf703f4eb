"""``normal(mu, std)``: the normal distribution, broadcast over array arguments."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np

from gentf.dsl.distributions._base import Distribution

__all__ = ["Normal", "normal"]

_LOG_2PI = float(np.log(2.0 * np.pi))


class Normal(Distribution):
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

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``sum(-0.5 ((x-mu)/std)^2 - log std - 0.5 log 2pi)``."""
        mu, std = args
        z = (value - mu) / std
        return anp.sum(-0.5 * z * z - anp.log(std) - 0.5 * _LOG_2PI)


normal = Normal()
