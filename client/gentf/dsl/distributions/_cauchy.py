"""``cauchy(x0, gamma)``: the Cauchy distribution with location ``x0`` and scale ``gamma``."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np

from gentf.dsl.distributions._base import Distribution

__all__ = ["Cauchy", "cauchy"]


class Cauchy(Distribution):
    """``x = cauchy(x0, gamma) @ addr``; broadcast over array arguments."""

    name = "cauchy"
    has_argument_grads = (True, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """A draw with the broadcast shape of the arguments."""
        x0, g = args
        shape = np.broadcast(np.asarray(x0), np.asarray(g)).shape
        return np.asarray(x0) + np.asarray(g) * rng.standard_cauchy(shape) if shape else float(
            x0 + g * rng.standard_cauchy()
        )

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``-log(pi gamma (1 + ((x-x0)/gamma)^2))``, summed."""
        x0, g = args
        z = (value - x0) / g
        return anp.sum(-anp.log(np.pi * g) - anp.log1p(z * z))


cauchy = Cauchy()
