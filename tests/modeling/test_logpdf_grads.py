"""The distributions' own gradients and special functions, against independent references.

``logpdf_grad`` (numpy, Gen's way) against autograd applied to independently written
autograd log densities (with scipy's special functions), on broadcast batches; autograd
through ``logpdf`` (one primitive) against the same; numpy special functions against scipy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import scipy.special as sp
from autograd.scipy.special import betaln as a_betaln
from autograd.scipy.special import gammaln as a_gammaln
from gentf.dsl import (
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
)
from gentf.dsl.distributions._special import betaln, digamma, gammaln

R = np.random.default_rng(7)
X3 = np.array([0.2, 0.5, 0.9])


def _ref_categorical(v: Any, p: Any) -> Any:
    flat = anp.reshape(p, (-1, anp.shape(p)[-1]))
    return anp.sum(anp.log(flat[np.arange(flat.shape[0]), np.ravel(v)]))


# (distribution, value, args, independent autograd log density)
CASES: list[tuple[Any, Any, tuple[Any, ...], Callable[..., Any]]] = [
    (normal, R.normal(size=(2, 3)), (R.normal(size=3), np.array([[0.5], [2.0]])),
     lambda x, m, s: anp.sum(-0.5 * ((x - m) / s) ** 2 - anp.log(s) - 0.5 * np.log(2 * np.pi))),
    (bernoulli, np.array([True, False, True]), (np.array([0.3, 0.6, 0.9]),),
     lambda v, p: anp.sum(anp.where(v, anp.log(p), anp.log(1 - p)))),
    (categorical, np.array([0, 2, 1]), (R.dirichlet(np.ones(3), size=3),), _ref_categorical),
    (uniform, X3, (np.array([0.0, 0.1, -1.0]), 1.5),
     lambda x, lo, hi: anp.sum(-anp.log(hi - lo) + 0 * x)),
    (beta, X3, (np.array([2.0, 0.7, 3.0]), 1.5),
     lambda x, a, b: anp.sum((a - 1) * anp.log(x) + (b - 1) * anp.log1p(-x) - a_betaln(a, b))),
    (gamma, np.array([0.5, 2.0, 4.0]), (np.array([1.5, 2.5, 0.8]), np.array([1.0, 0.3, 2.0])),
     lambda x, k, t: anp.sum((k - 1) * anp.log(x) - x / t - a_gammaln(k) - k * anp.log(t))),
    (inv_gamma, np.array([0.5, 2.0]), (3.0, np.array([1.0, 0.4])),
     lambda x, k, t: anp.sum(k * anp.log(t) - a_gammaln(k) - (k + 1) * anp.log(x) - t / x)),
    (exponential, np.array([0.1, 3.0]), (np.array([2.0, 0.5]),),
     lambda x, r: anp.sum(anp.log(r) - r * x)),
    (poisson, np.array([0, 3, 7]), (np.array([0.5, 2.0, 6.0]),),
     lambda n, r: anp.sum(n * anp.log(r) - r - a_gammaln(n + 1.0))),
    (binomial, np.array([0, 3, 10]), (10, np.array([0.2, 0.5, 0.7])),
     lambda k, n, p: anp.sum(k * anp.log(p) + (n - k) * anp.log1p(-p))),
    (geometric, np.array([0, 4]), (np.array([0.3, 0.8]),),
     lambda k, p: anp.sum(anp.log(p) + k * anp.log1p(-p))),
    (laplace, np.array([-1.0, 0.3, 2.0]), (0.5, np.array([1.0, 2.0, 0.5])),
     lambda x, m, s: anp.sum(-anp.log(2 * s) - anp.abs(x - m) / s)),
    (cauchy, np.array([-1.0, 0.3]), (np.array([0.5, 0.0]), 1.3),
     lambda x, m, g: anp.sum(-anp.log(np.pi * g) - anp.log1p(((x - m) / g) ** 2))),
    (mvnormal, np.array([0.5, -0.2]), (np.array([0.1, 0.3]), np.array([[2.0, 0.3], [0.3, 1.0]])),
     lambda x, m, c: -0.5 * anp.dot(x - m, anp.linalg.solve(c, x - m))
     - 0.5 * anp.linalg.slogdet(c)[1] - np.log(2 * np.pi)),
    (dirichlet, np.array([0.2, 0.3, 0.5]), (np.array([1.5, 2.0, 3.0]),),
     lambda x, a: anp.sum((a - 1) * anp.log(x)) + a_gammaln(anp.sum(a)) - anp.sum(a_gammaln(a))),
]


def _flags(dist: Any, n: int) -> tuple[bool, ...]:
    return (dist.has_output_grad, *dist._argument_flags(n))


@pytest.mark.parametrize("dist,value,args,ref", CASES, ids=lambda c: getattr(c, "name", ""))
def test_logpdf_grad_matches_autograd_of_an_independent_density(
    dist: Any, value: Any, args: tuple[Any, ...], ref: Callable[..., Any]
) -> None:
    inputs = (value, *args)
    flags = _flags(dist, len(args))
    lp = float(dist.logpdf(value, *args))
    if dist is not binomial:  # the reference leaves out log C(n, k)
        assert lp == pytest.approx(float(ref(*inputs)), rel=1e-12, abs=1e-12)
    grads = dist.logpdf_grad(value, *args)
    for i, (flag, g) in enumerate(zip(flags, grads)):
        if not flag:
            assert g is None
            continue
        x = np.asarray(inputs[i], dtype=np.float64)

        def at(v: Any, i: int = i) -> Any:
            return ref(*inputs[:i], v, *inputs[i + 1:])

        expected = autograd.grad(at)(x if np.ndim(inputs[i]) else float(x))
        assert np.shape(g) == np.shape(inputs[i]), (dist, i)
        assert np.allclose(g, expected, rtol=1e-11, atol=1e-11), (dist, i, g, expected)

        # autograd through logpdf (a single primitive) agrees
        def through(v: Any, i: int = i) -> Any:
            return dist.logpdf(*inputs[:i], v, *inputs[i + 1:])

        assert np.allclose(autograd.grad(through)(x if np.ndim(inputs[i]) else float(x)),
                           expected, rtol=1e-11, atol=1e-11)


def test_logpdf_with_tracked_list_arguments() -> None:
    # categorical(probs) where probs is a list of tracked scalars
    def f(p: Any) -> Any:
        return categorical.logpdf(1, [p[0], p[1], 1.0 - p[0] - p[1]])

    g = autograd.grad(f)(np.array([0.2, 0.5]))
    assert np.allclose(g, [0.0, 2.0])


def test_gammaln_digamma_betaln_match_scipy() -> None:
    pos = np.concatenate([np.geomspace(1e-8, 1e7, 3000), np.linspace(0.01, 30, 3000)])
    assert np.allclose(gammaln(pos), sp.gammaln(pos), rtol=1e-12, atol=1e-12)
    assert np.allclose(digamma(pos), sp.digamma(pos), rtol=1e-12, atol=1e-12)
    neg = -np.linspace(0.013, 12.7, 500)
    neg = neg[np.abs(neg - np.round(neg)) > 1e-3]
    assert np.allclose(gammaln(neg), sp.gammaln(neg), rtol=1e-12, atol=1e-12)
    assert np.allclose(digamma(neg), sp.digamma(neg), rtol=1e-9, atol=1e-9)
    a, b = np.geomspace(0.01, 100, 40), np.geomspace(100, 0.02, 40)
    assert np.allclose(betaln(a, b), sp.betaln(a, b), rtol=1e-12, atol=1e-12)
    assert gammaln(0.0) == np.inf and np.all(gammaln(np.array([-1.0, -2.0])) == np.inf)
    assert digamma(0.0) == -np.inf and np.isnan(digamma(-3.0))
    assert isinstance(gammaln(2.5), float) and isinstance(digamma(2.5), float)
    assert gammaln(np.ones((2, 3))).shape == (2, 3)
