"""``bernoulli(p)``: True with probability ``p``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution

__all__ = ["Bernoulli", "bernoulli"]


class Bernoulli(ElementwiseDistribution):
    """``b = bernoulli(p) @ addr``: True with probability ``p``; broadcast over arrays."""

    name = "bernoulli"
    is_discrete = True
    has_output_grad = False
    has_argument_grads = (True,)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A bool (or bool array of ``p``'s shape)."""
        (p,) = args
        draw = rng.random(np.shape(p)) < p
        return bool(draw) if np.ndim(draw) == 0 else draw

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``log p`` for True values, ``log(1-p)`` for False ones."""
        (p,) = args
        return np.log(np.where(np.asarray(value, dtype=bool), p, 1.0 - np.asarray(p)))

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dp = 1/p`` for True, ``-1/(1-p)`` for False."""
        (p,) = args
        pa = np.asarray(p)
        v = np.asarray(value, dtype=bool)
        return None, np.where(v, 1.0 / np.where(v, pa, 1.0), -1.0 / np.where(v, 1.0, 1.0 - pa))


bernoulli = Bernoulli()
