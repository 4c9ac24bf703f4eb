"""``inv_gamma(shape, scale)``: the inverse gamma distribution on ``(0, inf)``."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import gammaln

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._support import raw, restrict, total

__all__ = ["InvGamma", "inv_gamma"]


class InvGamma(Distribution):
    """``x = inv_gamma(shape, scale) @ addr``: ``1/x ~ gamma(shape, 1/scale)``; broadcast."""

    name = "inv_gamma"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of the arguments."""
        k, theta = args
        return 1.0 / rng.gamma(k, 1.0 / np.asarray(theta, dtype=np.float64))

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``k log theta - log Gamma(k) - (k+1) log x - theta/x`` for ``x > 0``."""
        k, theta = args
        inside = raw(value) > 0
        x = restrict(inside, value, 1.0)
        return total(inside, k * anp.log(theta) - gammaln(k) - (k + 1) * anp.log(x) - theta / x)


inv_gamma = InvGamma()
