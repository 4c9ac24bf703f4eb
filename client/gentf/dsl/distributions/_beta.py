"""``beta(alpha, beta)``: the beta distribution on ``(0, 1)``."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import betaln

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._support import raw, restrict, total

__all__ = ["Beta", "beta"]


class Beta(Distribution):
    """``x = beta(alpha, beta) @ addr``: shapes ``alpha, beta > 0``; broadcast over arrays."""

    name = "beta"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of the arguments."""
        a, b = args
        return rng.beta(a, b)

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``(a-1) log x + (b-1) log(1-x) - log B(a, b)`` inside ``(0, 1)``."""
        a, b = args
        inside = (raw(value) > 0) & (raw(value) < 1)
        x = restrict(inside, value, 0.5)
        return total(inside, (a - 1) * anp.log(x) + (b - 1) * anp.log1p(-x) - betaln(a, b))


beta = Beta()
