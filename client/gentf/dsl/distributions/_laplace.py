"""``laplace(loc, scale)``: the Laplace (double exponential) distribution."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np

from gentf.dsl.distributions._base import Distribution

__all__ = ["Laplace", "laplace"]


class Laplace(Distribution):
    """``x = laplace(loc, scale) @ addr``: density ``exp(-|x-loc|/scale) / (2 scale)``."""

    name = "laplace"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of the arguments."""
        loc, scale = args
        return rng.laplace(loc, scale)

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``-log(2 scale) - |x - loc| / scale``, summed."""
        loc, scale = args
        return anp.sum(-anp.log(2.0 * scale) - anp.abs(value - loc) / scale)


laplace = Laplace()
