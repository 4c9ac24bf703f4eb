"""``bernoulli(p)``: a coin flip that is True with probability ``p``."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np

from gentf.dsl.distributions._base import Distribution

__all__ = ["Bernoulli", "bernoulli"]


class Bernoulli(Distribution):
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

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``sum(log p)`` over True values plus ``sum(log(1-p))`` over False ones."""
        (p,) = args
        return anp.sum(anp.log(anp.where(anp.asarray(value, dtype=bool), p, 1.0 - p)))


bernoulli = Bernoulli()
