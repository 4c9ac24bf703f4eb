"""The random number generator behind every sampling operation of the modeling layer.

Distributions take an explicit ``numpy.random.Generator`` (``dist.sample(rng, *args)``).
The ``@gen`` operations (simulate, generate, update, regenerate, propose), untraced calls
and the inference routines draw from ONE module-level generator: ``seed(n)`` makes all of
them reproducible, ``set_rng(generator)`` installs your own, ``get_rng()`` returns it.
At import it is seeded from the operating system (like Gen's default global RNG).
"""

from __future__ import annotations

import numpy as np

__all__ = ["get_rng", "seed", "set_rng"]

_RNG: np.random.Generator = np.random.default_rng()


def get_rng() -> np.random.Generator:
    """``rng = get_rng()``: the generator that the modeling layer samples from."""
    return _RNG


def set_rng(rng: np.random.Generator) -> None:
    """Installs ``rng`` as the generator of the modeling layer."""
    global _RNG
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"set_rng() takes a numpy.random.Generator; got {type(rng).__name__}")
    _RNG = rng


def seed(value: int) -> None:
    """``seed(n)``: reseeds the modeling layer's generator (``numpy.random.default_rng(n)``)."""
    set_rng(np.random.default_rng(value))
