"""``laplace(loc, scale)``: the Laplace (double exponential) distribution."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution

__all__ = ["Laplace", "laplace"]


class Laplace(ElementwiseDistribution):
    """``x = laplace(loc, scale) @ addr``: density ``exp(-|x-loc|/scale) / (2 scale)``."""

    name = "laplace"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of the arguments."""
        loc, scale = args
        return rng.laplace(loc, scale)

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``-log(2 scale) - |x - loc| / scale`` elementwise."""
        loc, scale = args
        return -np.log(2.0 * np.asarray(scale)) - np.abs(np.asarray(value) - loc) / scale

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = -sign(x-loc)/scale``, ``d/dloc = sign(x-loc)/scale``,
        ``d/dscale = |x-loc|/scale^2 - 1/scale``."""
        loc, scale = args
        d = np.asarray(value, dtype=np.float64) - loc
        s = np.sign(d) / scale
        return -s, s, np.abs(d) / (np.asarray(scale) * scale) - 1.0 / np.asarray(scale)


laplace = Laplace()
