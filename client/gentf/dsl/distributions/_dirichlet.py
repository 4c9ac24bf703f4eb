"""``dirichlet(alpha)``: the Dirichlet distribution on the probability simplex."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import gammaln
from autograd.tracer import getval

from gentf.dsl.distributions._base import Distribution

__all__ = ["Dirichlet", "dirichlet"]


class Dirichlet(Distribution):
    """``p = dirichlet(alpha) @ addr``: ``alpha`` of shape (K,), all > 0; value of shape (K,)."""

    name = "dirichlet"
    has_argument_grads = (True,)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A probability vector of shape (K,)."""
        (alpha,) = args
        return rng.dirichlet(alpha)

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``sum((alpha-1) log x) + log Gamma(sum alpha) - sum log Gamma(alpha)`` on the simplex."""
        (alpha,) = args
        v = np.asarray(getval(value), dtype=np.float64)
        if v.ndim != 1 or np.any(v <= 0) or abs(float(np.sum(v)) - 1.0) > 1e-8 * v.size + 1e-12:
            return -np.inf
        return (
            anp.sum((alpha - 1.0) * anp.log(value))
            + gammaln(anp.sum(alpha))
            - anp.sum(gammaln(alpha))
        )


dirichlet = Dirichlet()
