"""``geometric(p)``: the number of failures before the first success (support ``0, 1, ...``)."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._support import restrict, total

__all__ = ["Geometric", "geometric"]


class Geometric(Distribution):
    """``k = geometric(p) @ addr``: ``P(k) = p (1-p)^k``, ``k = 0, 1, ...`` (as in Gen)."""

    name = "geometric"
    is_discrete = True
    has_output_grad = False
    has_argument_grads = (True,)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """An int (or int array of the shape of ``p``)."""
        (p,) = args
        draw = rng.geometric(p) - 1
        return int(draw) if np.ndim(draw) == 0 else draw

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``log p + k log(1-p)`` for integers ``k >= 0``."""
        (p,) = args
        v = np.asarray(value, dtype=np.float64)
        inside = (v >= 0) & (np.mod(v, 1) == 0)
        k = restrict(inside, v, 0.0)
        return total(inside, anp.log(p) + k * anp.log1p(-p))


geometric = Geometric()
