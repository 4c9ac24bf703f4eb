"""Distributions: logpdf against scipy.stats, gradients against finite differences, sampling."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.stats as st
from fd import fd_grad
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
    uniform_discrete,
)

COV = np.array([[2.0, 0.3], [0.3, 1.0]])

# (distribution, value, args, scipy log density)
CASES: list[tuple[Any, Any, tuple[Any, ...], float]] = [
    (normal, 0.7, (0.2, 1.3), st.norm.logpdf(0.7, 0.2, 1.3)),
    (normal, np.array([0.1, -2.0]), (np.array([0.0, 1.0]), 2.0),
     st.norm.logpdf([0.1, -2.0], [0.0, 1.0], 2.0).sum()),
    (mvnormal, np.array([0.5, -0.2]), (np.array([0.1, 0.3]), COV),
     st.multivariate_normal.logpdf([0.5, -0.2], [0.1, 0.3], COV)),
    (bernoulli, True, (0.3,), np.log(0.3)),
    (bernoulli, np.array([True, False]), (np.array([0.3, 0.4]),), np.log(0.3 * 0.6)),
    (categorical, 2, (np.array([0.2, 0.3, 0.5]),), np.log(0.5)),
    (categorical, np.array([0, 2]), (np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]),),
     np.log(0.2 * 0.8)),
    (uniform, 0.4, (0.0, 2.0), st.uniform.logpdf(0.4, 0.0, 2.0)),
    (uniform_discrete, 3, (1, 6), np.log(1 / 6)),
    (beta, 0.3, (2.0, 3.5), st.beta.logpdf(0.3, 2.0, 3.5)),
    (gamma, 1.7, (2.5, 0.8), st.gamma.logpdf(1.7, 2.5, scale=0.8)),
    (inv_gamma, 0.9, (3.0, 2.0), st.invgamma.logpdf(0.9, 3.0, scale=2.0)),
    (exponential, 0.6, (1.5,), st.expon.logpdf(0.6, scale=1 / 1.5)),
    (poisson, 4, (2.5,), st.poisson.logpmf(4, 2.5)),
    (binomial, 3, (10, 0.25), st.binom.logpmf(3, 10, 0.25)),
    (geometric, 3, (0.3,), st.geom.logpmf(4, 0.3)),
    (laplace, -0.4, (0.5, 1.5), st.laplace.logpdf(-0.4, 0.5, 1.5)),
    (cauchy, 2.0, (0.5, 1.2), st.cauchy.logpdf(2.0, 0.5, 1.2)),
    (dirichlet, np.array([0.2, 0.3, 0.5]), (np.array([1.5, 2.0, 3.0]),),
     st.dirichlet.logpdf([0.2, 0.3, 0.5], [1.5, 2.0, 3.0])),
]


@pytest.mark.parametrize("dist,value,args,expected", CASES, ids=lambda c: getattr(c, "name", ""))
def test_logpdf_matches_scipy(dist: Any, value: Any, args: tuple[Any, ...], expected: float) -> None:
    assert float(dist.logpdf(value, *args)) == pytest.approx(expected, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("dist,value,args,expected", CASES, ids=lambda c: getattr(c, "name", ""))
def test_logpdf_grad_matches_finite_differences(
    dist: Any, value: Any, args: tuple[Any, ...], expected: float
) -> None:
    grads = dist.logpdf_grad(value, *args)
    assert len(grads) == 1 + len(args)
    inputs = (value, *args)
    flags = (dist.has_output_grad, *dist.has_argument_grads)
    for i, (flag, g) in enumerate(zip(flags, grads)):
        if not flag:
            assert g is None
            continue
        if dist is dirichlet and i == 0:
            continue  # the value lives on the simplex; finite differences leave it

        def f(v: np.ndarray, i: int = i) -> float:
            vals = list(inputs)
            vals[i] = v if np.ndim(inputs[i]) else float(v)
            return float(dist.logpdf(*vals))

        assert np.allclose(g, fd_grad(f, inputs[i]), rtol=1e-5, atol=1e-6), (dist, i)


def test_out_of_support_is_minus_inf() -> None:
    assert beta.logpdf(1.5, 2.0, 2.0) == -np.inf
    assert gamma.logpdf(-1.0, 2.0, 1.0) == -np.inf
    assert uniform.logpdf(3.0, 0.0, 1.0) == -np.inf
    assert poisson.logpdf(-1, 2.0) == -np.inf
    assert categorical.logpdf(3, np.array([0.5, 0.5])) == -np.inf
    assert uniform_discrete.logpdf(7, 1, 6) == -np.inf
    assert binomial.logpdf(11, 10, 0.5) == -np.inf


def test_flags() -> None:
    for d in (bernoulli, categorical, poisson, binomial, geometric, uniform_discrete):
        assert d.is_discrete and not d.has_output_grad
    for d in (normal, mvnormal, uniform, beta, gamma, inv_gamma, exponential, laplace, cauchy,
              dirichlet):
        assert not d.is_discrete and d.has_output_grad


@pytest.mark.parametrize("dist,args,mean", [
    (normal, (1.0, 2.0), 1.0),
    (beta, (2.0, 3.0), 0.4),
    (gamma, (2.0, 1.5), 3.0),
    (inv_gamma, (4.0, 3.0), 1.0),
    (exponential, (2.0,), 0.5),
    (poisson, (3.0,), 3.0),
    (binomial, (10, 0.3), 3.0),
    (geometric, (0.25,), 3.0),
    (laplace, (-1.0, 0.5), -1.0),
    (uniform, (1.0, 3.0), 2.0),
    (uniform_discrete, (1, 6), 3.5),
    (bernoulli, (0.3,), 0.3),
    (categorical, (np.array([0.2, 0.3, 0.5]),), 1.3),
], ids=lambda c: getattr(c, "name", ""))
def test_sample_means(dist: Any, args: tuple[Any, ...], mean: float) -> None:
    rng = np.random.default_rng(0)
    draws = np.array([dist.sample(rng, *args) for _ in range(4000)], dtype=np.float64)
    # 5 standard errors of the mean (standard deviation estimated from the draws)
    assert abs(draws.mean() - mean) < 5 * draws.std() / np.sqrt(len(draws)) + 1e-12


def test_vectorized_sample_shapes() -> None:
    rng = np.random.default_rng(1)
    assert np.shape(normal.sample(rng, np.zeros(3), 1.0)) == (3,)
    assert np.shape(categorical.sample(rng, np.full((5, 4), 0.25))) == (5,)
    assert np.shape(dirichlet.sample(rng, np.ones(3))) == (3,)
    assert np.shape(mvnormal.sample(rng, np.zeros(2), COV)) == (2,)
    assert np.shape(cauchy.sample(rng, np.zeros(4), 1.0)) == (4,)
    assert isinstance(categorical.sample(rng, np.array([0.5, 0.5])), int)
    assert np.isclose(np.sum(dirichlet.sample(rng, np.ones(3))), 1.0)


def test_untraced_call_uses_module_rng() -> None:
    from gentf.dsl import seed

    seed(7)
    a = normal(0.0, 1.0)
    seed(7)
    assert normal(0.0, 1.0) == a


class _OwnLogpdf:
    """A distribution written as docs/from-gen-jl.md says a new one is: ``sample`` and
    ``logpdf`` in autograd.numpy, the flags declared (a skewed Laplace: scale ``b`` left of
    ``mu``, ``2 b`` right of it)."""

    @staticmethod
    def make() -> Any:
        import autograd.numpy as anp
        from gentf.dsl.distributions import Distribution

        class Skewed(Distribution):
            name = "skewed"
            has_argument_grads = (True, True)

            def sample(self, rng: Any, mu: Any, b: Any) -> Any:
                return rng.laplace(mu, b)

            def logpdf(self, x: Any, mu: Any, b: Any) -> Any:
                d = x - mu
                scale = b * (1.5 + 0.5 * anp.sign(d))  # b left of mu, 2 b right of it
                return anp.sum(-anp.log(3 * b) - anp.abs(d) / scale)

        return Skewed()


def _skewed_logpdf(x: Any, mu: Any, b: Any) -> float:
    d = np.asarray(x, float) - mu
    return float(np.sum(-np.log(3 * b) - np.abs(d) / np.where(d < 0, b, 2 * b)))


def test_a_distribution_writing_its_own_logpdf_scores_and_differentiates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gentf import (
        Map,
        accumulate_param_gradients,
        choice_gradients,
        choicemap,
        gen,
        generate,
        get_param_grad,
        param,
        path,
        select,
        zero_param_grad,
    )
    from gentf.dsl import _direct

    skewed = _OwnLogpdf.make()
    xs = np.array([1.0, -1.0, 0.5, 0.2])

    @gen(params={"mu": np.array([0.1, 0.3, -0.2, 0.4])})
    def model() -> None:
        mu = param("mu")
        skewed(mu, 1.5) @ "all"                      # one choice holding an array
        for i in range(4):
            skewed(mu[i], 0.5) @ ("row", i)          # a loop over rows
        Map(skewed)(mu, np.full(4, 2.0)) @ "map"    # a Map of a non-elementwise kernel

    cm = choicemap({"all": xs, **{("row", i): xs[i] for i in range(4)},
                    **{path("map", i): xs[3 - i] for i in range(4)}})
    trace, weight = generate(model, (), cm)
    mu = model.get_param("mu")
    expected = (_skewed_logpdf(xs, mu, 1.5) + _skewed_logpdf(xs, mu, 0.5)
                + _skewed_logpdf(xs[::-1], mu, 2.0))
    assert weight == pytest.approx(expected, rel=1e-12)

    def total(m: np.ndarray) -> float:
        return (_skewed_logpdf(xs, m, 1.5) + _skewed_logpdf(xs, m, 0.5)
                + _skewed_logpdf(xs[::-1], m, 2.0))

    grads = []
    for direct in (True, False):
        with monkeypatch.context() as mp:
            if not direct:
                mp.setattr(_direct, "direct_param_gradients", lambda *a, **k: None)
            accumulate_param_gradients(trace, None, 1.0)
        grads.append(np.array(get_param_grad(model, "mu")))
        zero_param_grad(model, "mu")
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)
    np.testing.assert_allclose(grads[0], fd_grad(total, mu), rtol=1e-6)

    _, _, value_grads = choice_gradients(trace, select("all"), None)
    np.testing.assert_allclose(value_grads["all"],
                               fd_grad(lambda x: _skewed_logpdf(x, mu, 1.5), xs), rtol=1e-6)
