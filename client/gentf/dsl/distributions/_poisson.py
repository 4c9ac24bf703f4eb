"""``poisson(rate)``: counts ``0, 1, 2, ...`` with mean ``rate``."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import gammaln

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._support import restrict, total

__all__ = ["Poisson", "poisson"]


class Poisson(Distribution):
    """``n = poisson(rate) @ addr``; broadcast over arrays."""

    name = "poisson"
    is_discrete = True
    has_output_grad = False
    has_argument_grads = (True,)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """An int (or int array of the shape of ``rate``)."""
        (rate,) = args
        draw = rng.poisson(rate)
        return int(draw) if np.ndim(draw) == 0 else draw

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``n log rate - rate - log n!`` for integers ``n >= 0``."""
        (rate,) = args
        v = np.asarray(value, dtype=np.float64)
        inside = (v >= 0) & (np.mod(v, 1) == 0)
        n = restrict(inside, v, 0.0)
        return total(inside, n * anp.log(rate) - rate - gammaln(n + 1.0))


poisson = Poisson()
