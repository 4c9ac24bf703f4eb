"""``uniform_discrete(low, high)``: integers ``low .. high``, equally likely."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._support import is_integer, mask

__all__ = ["UniformDiscrete", "uniform_discrete"]


class UniformDiscrete(ElementwiseDistribution):
    """``k = uniform_discrete(low, high) @ addr``: integers ``low <= k <= high``, as in Gen."""

    name = "uniform_discrete"
    is_discrete = True
    has_output_grad = False
    has_argument_grads = (False, False)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """An int (or int array of the broadcast shape)."""
        low, high = args
        draw = rng.integers(low, np.asarray(high) + 1)
        return int(draw) if np.ndim(draw) == 0 else draw

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``-log(high - low + 1)`` per element in range, ``-inf`` outside."""
        low, high = args
        v = np.asarray(value)
        inside = (v >= low) & (v <= high) & is_integer(v)
        return mask(inside, -np.log(np.asarray(high, dtype=np.float64) - low + 1.0))

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """No gradients: every input is discrete."""
        return None, None, None


uniform_discrete = UniformDiscrete()
