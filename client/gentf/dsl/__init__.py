"""The ``@gen`` modeling language: generative functions as Python functions, distributions.

Inside a ``@gen`` body, ``dist(args) @ addr`` makes a random choice and ``gen_fn(args) @
addr`` calls another generative function, at a key or a hierarchical ``path(k1, k2, ...)``
(Gen's ``{:k1 => k2} ~ f(args)``); a call without an address runs untraced, as in Gen;
``param(name)`` reads a trainable parameter.
Randomness comes from one module-level generator: ``seed(n)`` for reproducibility.
"""

from gentf.dsl._exec import param
from gentf.dsl._gen_fn import GenFunction, gen
from gentf.dsl._map_combinator import Map, MapTrace
from gentf.dsl._params import get_param, get_param_grad, init_param, set_param, zero_param_grad
from gentf.dsl._rng import get_rng, seed, set_rng
from gentf.dsl._trace import GenTrace
from gentf.dsl.distributions import (
    Distribution,
    bernoulli,
    beta,
    binomial,
    categorical,
    cauchy,
    dirichlet,
    exponential,
    gamma,
    geometric,
    inv_gamma,
    laplace,
    mvnormal,
    normal,
    poisson,
    uniform,
    uniform_discrete,
)

__all__ = [
    "Distribution",
    "GenFunction",
    "GenTrace",
    "Map",
    "MapTrace",
    "bernoulli",
    "beta",
    "binomial",
    "categorical",
    "cauchy",
    "dirichlet",
    "exponential",
    "gamma",
    "gen",
    "geometric",
    "get_param",
    "get_param_grad",
    "get_rng",
    "init_param",
    "inv_gamma",
    "laplace",
    "mvnormal",
    "normal",
    "param",
    "poisson",
    "seed",
    "set_param",
    "set_rng",
    "uniform",
    "uniform_discrete",
    "zero_param_grad",
]
