"""``poisson(rate)``: counts ``0, 1, 2, ...``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._special import gammaln
from gentf.dsl.distributions._support import is_integer, mask, restrict, zero_outside

__all__ = ["Poisson", "poisson"]


class Poisson(ElementwiseDistribution):
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

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``n log rate - rate - log n!`` for integers ``n >= 0``."""
        rate = np.asarray(args[0])
        v = np.asarray(value, dtype=np.float64)
        inside = (v >= 0) & is_integer(v)
        n = restrict(inside, v, 0.0)
        with np.errstate(divide="ignore"):
            n_log_rate = np.where(n > 0, n * np.log(np.where(n > 0, rate, 1.0)), 0.0)
        return mask(inside, n_log_rate - rate - gammaln(n + 1.0))

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/drate = n/rate - 1``."""
        rate = np.asarray(args[0], dtype=np.float64)
        v = np.asarray(value, dtype=np.float64)
        inside = (v >= 0) & is_integer(v)
        n = restrict(inside, v, 0.0)
        return None, zero_outside(inside, np.where(n > 0, n / np.where(n > 0, rate, 1.0), 0.0) - 1.0)


poisson = Poisson()
