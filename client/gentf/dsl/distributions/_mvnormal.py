"""``mvnormal(mu, cov)``: the multivariate normal distribution."""

from __future__ import annotations

from typing import Any

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

    @staticmethod
    def _solve(value: Any, mu: Any, cov: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.asarray(value, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"mvnormal: the value must have shape (d,); got {x.shape}")
        c = np.asarray(cov, dtype=np.float64)
        diff = x - mu
        return diff, c, np.linalg.solve(c, diff)

    def _logpdf(self, value: Any, *args: Any) -> float:
        """``-0.5 (x-mu)^T cov^-1 (x-mu) - 0.5 log det cov - d/2 log 2pi``."""
        diff, c, sol = self._solve(value, *args)
        _, logdet = np.linalg.slogdet(c)
        return float(-0.5 * diff @ sol - 0.5 * logdet - 0.5 * diff.shape[0] * _LOG_2PI)

    def _logpdf_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = -cov^-1 (x-mu)``, ``d/dmu = cov^-1 (x-mu)``, and, treating the entries of
        ``cov`` as independent, ``d/dcov = 0.5 (cov^-T (x-mu)(x-mu)^T cov^-T - cov^-T)``."""
        diff, c, sol = self._solve(value, *args)
        inv_t = np.linalg.inv(c).T
        left = np.linalg.solve(c.T, diff)
        return -sol, sol, 0.5 * (np.outer(left, left) - inv_t)


mvnormal = MvNormal()
