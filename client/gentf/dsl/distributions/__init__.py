"""Primitive distributions: ``dist(args) @ addr`` inside a ``@gen`` body.

Each has ``sample(rng, *args)``, ``logpdf(value, *args)`` (autograd-differentiable, summed
over a batch), ``logpdf_grad``, ``has_output_grad``, ``has_argument_grads`` and
``is_discrete``.
"""

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._bernoulli import Bernoulli, bernoulli
from gentf.dsl.distributions._beta import Beta, beta
from gentf.dsl.distributions._binomial import Binomial, binomial
from gentf.dsl.distributions._categorical import Categorical, categorical
from gentf.dsl.distributions._cauchy import Cauchy, cauchy
from gentf.dsl.distributions._dirichlet import Dirichlet, dirichlet
from gentf.dsl.distributions._exponential import Exponential, exponential
from gentf.dsl.distributions._gamma import Gamma, gamma
from gentf.dsl.distributions._geometric import Geometric, geometric
from gentf.dsl.distributions._inv_gamma import InvGamma, inv_gamma
from gentf.dsl.distributions._laplace import Laplace, laplace
from gentf.dsl.distributions._mvnormal import MvNormal, mvnormal
from gentf.dsl.distributions._normal import Normal, normal
from gentf.dsl.distributions._poisson import Poisson, poisson
from gentf.dsl.distributions._uniform import Uniform, uniform
from gentf.dsl.distributions._uniform_discrete import UniformDiscrete, uniform_discrete

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Cauchy",
    "Dirichlet",
    "Distribution",
    "Exponential",
    "Gamma",
    "Geometric",
    "InvGamma",
    "Laplace",
    "MvNormal",
    "Normal",
    "Poisson",
    "Uniform",
    "UniformDiscrete",
    "bernoulli",
    "beta",
    "binomial",
    "categorical",
    "cauchy",
    "dirichlet",
    "exponential",
    "gamma",
    "geometric",
    "inv_gamma",
    "laplace",
    "mvnormal",
    "normal",
    "poisson",
    "uniform",
    "uniform_discrete",
]
