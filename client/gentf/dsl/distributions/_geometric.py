"""``geometric(p)``: failures before the first success, ``k = 0, 1, ...``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._support import is_integer, mask, restrict, zero_outside

__all__ = ["Geometric", "geometric"]


class Geometric(ElementwiseDistribution):
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

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``log p + k log(1-p)`` for integers ``k >= 0``."""
        p = np.asarray(args[0])
        v = np.asarray(value, dtype=np.float64)
        inside = (v >= 0) & is_integer(v)
        k = restrict(inside, v, 0.0)
        return mask(inside, np.log(p) + k * np.log1p(-p))

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dp = 1/p - k/(1-p)``."""
        p = np.asarray(args[0], dtype=np.float64)
        v = np.asarray(value, dtype=np.float64)
        inside = (v >= 0) & is_integer(v)
        k = restrict(inside, v, 0.0)
        return None, zero_outside(inside, 1.0 / p - k / (1.0 - p))


geometric = Geometric()
