"""``mvnormal(mu, cov)``: the multivariate normal distribution."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np

from gentf.dsl.distributions._base import Distribution

__all__ = ["MvNormal", "mvnormal"]

_LOG_2PI = float(np.log(2.0 * np.pi))


class MvNormal(Distribution):
    """``x = mvnormal(mu, cov) @ addr``: ``mu`` of shape (d,), ``cov`` (d, d) positive definite.

    The value has shape (d,).
    """

    name = "mvnormal"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw of shape (d,)."""
        mu, cov = args
        return rng.multivariate_normal(np.asarray(mu, dtype=np.float64), cov)

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``-0.5 (x-mu)^T cov^-1 (x-mu) - 0.5 log det cov - d/2 log 2pi``."""
        mu, cov = args
        if anp.ndim(value) != 1:
            raise ValueError(f"mvnormal: the value must have shape (d,); got {anp.shape(value)}")
        diff = value - mu
        _, logdet = anp.linalg.slogdet(cov)
        quad = anp.dot(diff, anp.linalg.solve(cov, diff))
        return -0.5 * quad - 0.5 * logdet - 0.5 * anp.shape(value)[0] * _LOG_2PI


mvnormal = MvNormal()
