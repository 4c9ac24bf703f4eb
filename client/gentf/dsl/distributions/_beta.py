"""``beta(alpha, beta)``: the beta distribution on ``(0, 1)``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._special import betaln, digamma
from gentf.dsl.distributions._support import mask, restrict, zero_outside

__all__ = ["Beta", "beta"]


class Beta(ElementwiseDistribution):
    """``x = beta(alpha, beta) @ addr``: shapes ``alpha, beta > 0``; broadcast over arrays."""

    name = "beta"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of the arguments."""
        a, b = args
        return rng.beta(a, b)

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``(a-1) log x + (b-1) log(1-x) - log B(a, b)`` inside ``(0, 1)``."""
        a, b = args
        v = np.asarray(value)
        inside = (v > 0) & (v < 1)
        x = restrict(inside, v, 0.5)
        return mask(inside, (np.asarray(a) - 1) * np.log(x) + (np.asarray(b) - 1) * np.log1p(-x)
                    - betaln(a, b))

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = (a-1)/x - (b-1)/(1-x)``; ``d/da = log x - psi(a) + psi(a+b)``; likewise b."""
        a, b = np.asarray(args[0], dtype=np.float64), np.asarray(args[1], dtype=np.float64)
        v = np.asarray(value)
        inside = (v > 0) & (v < 1)
        x = restrict(inside, v, 0.5)
        ab = digamma(a + b)
        return (zero_outside(inside, (a - 1) / x - (b - 1) / (1 - x)),
                zero_outside(inside, np.log(x) - digamma(a) + ab),
                zero_outside(inside, np.log1p(-x) - digamma(b) + ab))


beta = Beta()
