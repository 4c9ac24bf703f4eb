"""``dirichlet(alpha)``: the Dirichlet distribution on the probability simplex."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._special import digamma, gammaln

__all__ = ["Dirichlet", "dirichlet"]


class Dirichlet(Distribution):
    """``p = dirichlet(alpha) @ addr``: ``alpha`` of shape (K,), all > 0; value of shape (K,)."""

    name = "dirichlet"
    has_argument_grads = (True,)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A probability vector of shape (K,)."""
        (alpha,) = args
        return rng.dirichlet(alpha)

    @staticmethod
    def _inside(v: np.ndarray) -> bool:
        return bool(v.ndim == 1 and np.all(v > 0)
                    and abs(float(np.sum(v)) - 1.0) <= 1e-8 * v.size + 1e-12)

    def _logpdf(self, value: Any, *args: Any) -> float:
        """``sum((alpha-1) log x) + log Gamma(sum alpha) - sum log Gamma(alpha)`` on the simplex."""
        alpha = np.asarray(args[0], dtype=np.float64)
        v = np.asarray(value, dtype=np.float64)
        if not self._inside(v):
            return -np.inf
        return float(np.sum((alpha - 1.0) * np.log(v)) + gammaln(np.sum(alpha))
                     - np.sum(gammaln(alpha)))

    def _logpdf_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = (alpha-1)/x``, ``d/dalpha = log x + psi(sum alpha) - psi(alpha)`` (zeros
        off the simplex)."""
        alpha = np.asarray(args[0], dtype=np.float64)
        v = np.asarray(value, dtype=np.float64)
        if not self._inside(v):
            return np.zeros_like(v), np.zeros_like(alpha)
        return (alpha - 1.0) / v, np.log(v) + digamma(np.sum(alpha)) - digamma(alpha)


dirichlet = Dirichlet()
