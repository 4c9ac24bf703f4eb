"""``cauchy(x0, gamma)``: the Cauchy distribution."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution

__all__ = ["Cauchy", "cauchy"]


class Cauchy(ElementwiseDistribution):
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

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``-log(pi gamma (1 + ((x-x0)/gamma)^2))`` elementwise."""
        x0, g = args
        z = (np.asarray(value) - x0) / g
        return -np.log(np.pi * np.asarray(g)) - np.log1p(z * z)

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dx = -2z/(gamma (1+z^2))``, ``d/dx0`` its negative,
        ``d/dgamma = (z^2 - 1)/(gamma (1+z^2))``."""
        x0, g = args
        z = (np.asarray(value, dtype=np.float64) - x0) / g
        dx0 = 2.0 * z / (np.asarray(g) * (1.0 + z * z))
        return -dx0, dx0, (z * z - 1.0) / (np.asarray(g) * (1.0 + z * z))


cauchy = Cauchy()
