"""Inference against closed forms in the normal-normal model.

mu ~ normal(0, S0); y_i ~ normal(mu, S), i < 3. Posterior: normal(POST_MEAN, POST_STD);
marginal: ys ~ mvnormal(0, S^2 I + S0^2 11^T).
"""

from __future__ import annotations

import io
import itertools

import autograd.numpy as anp
import numpy as np
import pytest
import scipy.stats as st
from gentf.dsl import gen, get_param, normal, param
from gentf.gfi import choicemap, generate, select, simulate
from gentf.inference import (
    ADAM,
    ParamUpdate,
    black_box_vi,
    importance_resampling,
    importance_sampling,
    logsumexp,
    map_optimize,
    metropolis_hastings,
    train,
)
from gentf.inference._progress import progress_bar

S0, S = 2.0, 0.5
YS = np.array([0.3, 1.1, 0.8])
OBS = choicemap({("y", i): y for i, y in enumerate(YS)})
POST_PREC = 1 / S0**2 + len(YS) / S**2
POST_MEAN = (YS.sum() / S**2) / POST_PREC
POST_STD = POST_PREC ** -0.5
LOG_MARGINAL = float(st.multivariate_normal.logpdf(
    YS, np.zeros(3), S**2 * np.eye(3) + S0**2 * np.ones((3, 3))))


@gen
def model() -> float:
    mu = normal(0.0, S0) @ "mu"
    for i in range(len(YS)):
        normal(mu, S) @ ("y", i)
    return mu


@gen
def exact_posterior() -> None:
    normal(POST_MEAN, POST_STD) @ "mu"


@gen
def random_walk(trace: object, width: float) -> None:
    normal(trace["mu"], width) @ "mu"  # type: ignore[index]


def test_logsumexp() -> None:
    assert logsumexp([0.0, 0.0]) == pytest.approx(np.log(2))
    assert logsumexp([1000.0, 1000.0]) == pytest.approx(1000 + np.log(2))
    assert logsumexp([-np.inf, -np.inf]) == -np.inf
    assert logsumexp([]) == -np.inf


def test_importance_sampling_with_prior_proposal() -> None:
    traces, log_w, lml = importance_sampling(model, (), OBS, 5000)
    assert len(traces) == 5000
    assert logsumexp(log_w) == pytest.approx(0.0, abs=1e-12)
    # Tolerance: the relative std of the weights is about 2.5 here, so the standard error
    # of the estimate is about 2.5 / sqrt(5000) = 0.035; allow 0.12.
    assert lml == pytest.approx(LOG_MARGINAL, abs=0.12)
    post_mean = sum(np.exp(lw) * t["mu"] for t, lw in zip(traces, log_w))
    assert post_mean == pytest.approx(POST_MEAN, abs=0.05)


def test_importance_sampling_with_exact_proposal_is_exact() -> None:
    _, log_w, lml = importance_sampling(model, (), OBS, 20, proposal=exact_posterior)
    assert lml == pytest.approx(LOG_MARGINAL, abs=1e-9)  # every weight equals p(ys)
    assert np.allclose(log_w, -np.log(20))


def test_importance_resampling() -> None:
    trace, lml = importance_resampling(model, (), OBS, 2000)
    assert lml == pytest.approx(LOG_MARGINAL, abs=0.15)
    assert [trace[("y", i)] for i in range(3)] == list(YS)
    draws = [importance_resampling(model, (), OBS, 200)[0]["mu"] for _ in range(200)]
    assert np.mean(draws) == pytest.approx(POST_MEAN, abs=0.1)  # about 5 standard errors


def _mh_mean(move: object, iters: int = 4000) -> tuple[float, float]:
    trace, _ = generate(model, (), OBS.merge(choicemap({"mu": 3.0})))
    samples, accepted = [], 0
    for _ in range(iters):
        trace, acc = move(trace)  # type: ignore[operator]
        accepted += acc
        samples.append(trace["mu"])
    return float(np.mean(samples[500:])), accepted / iters


def test_mh_by_selection_posterior_mean() -> None:
    mean, rate = _mh_mean(lambda t: metropolis_hastings(t, select("mu")))
    # Independent prior proposals accept ~15%; about 500 effective samples: SE ~ 0.013.
    assert 0.05 < rate < 0.5
    assert mean == pytest.approx(POST_MEAN, abs=0.06)


def test_mh_with_custom_proposal_posterior_mean() -> None:
    mean, rate = _mh_mean(lambda t: metropolis_hastings(t, random_walk, (0.3,)))
    assert 0.3 < rate < 0.9
    assert mean == pytest.approx(POST_MEAN, abs=0.06)


def test_mh_rejects_bad_argument() -> None:
    trace = simulate(model, ())
    with pytest.raises(TypeError, match="Selection or a proposal"):
        metropolis_hastings(trace, "mu")  # type: ignore[arg-type]


def test_map_optimize_climbs_to_the_mode() -> None:
    trace, _ = generate(model, (), OBS.merge(choicemap({"mu": -3.0})))
    scores = [trace.get_score()]
    for _ in range(100):
        trace = map_optimize(trace, select("mu"))
        scores.append(trace.get_score())
    assert all(b >= a for a, b in itertools.pairwise(scores))
    assert trace["mu"] == pytest.approx(POST_MEAN, abs=1e-4)


@gen(params={"m": 0.0, "log_s": 0.0})
def gaussian_fit() -> None:
    normal(param("m"), anp.exp(param("log_s"))) @ "y"


def test_train_fits_a_gaussian() -> None:
    gaussian_fit.init_param("m", 0.0)
    gaussian_fit.init_param("log_s", 0.0)
    rng = np.random.default_rng(3)

    def data() -> tuple[tuple[()], object]:
        return (), choicemap({"y": rng.normal(3.0, 0.5)})

    seen: list[tuple[int, int, float]] = []
    upd = ParamUpdate(ADAM(0.05), {gaussian_fit: ["m", "log_s"]})
    history = train(gaussian_fit, data, upd, num_epoch=30, epoch_size=50, num_minibatch=5,
                    minibatch_size=10, evaluation_size=100, progress=False,
                    callback=lambda e, b, o: seen.append((e, b, o)))
    assert history.shape == (30,)
    assert len(seen) == 150 and seen[0][:2] == (0, 0)
    assert float(get_param(gaussian_fit, "m")) == pytest.approx(3.0, abs=0.15)
    assert float(np.exp(get_param(gaussian_fit, "log_s"))) == pytest.approx(0.5, abs=0.1)
    # held-out log density rises to about that of N(3, 0.5): -log(0.5 sqrt(2 pi e)) = -0.73
    assert history[0] < history[-1]
    assert history[-1] == pytest.approx(-0.726, abs=0.2)
    with pytest.raises(ValueError, match="minibatch_size"):
        train(gaussian_fit, data, upd, epoch_size=2, minibatch_size=3, progress=False)


def test_progress_bars_are_tqdm_on_stderr_and_off_when_asked(
        capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    with progress_bar(4, "train", True, file=out) as bar:
        bar.update(4)
    assert "train: 100%" in out.getvalue() and "4/4" in out.getvalue()

    @gen(params={"m": 0.0})
    def fit() -> None:
        normal(param("m"), 1.0) @ "y"

    upd = ParamUpdate(ADAM(0.05), fit)
    train(fit, lambda: ((), choicemap({"y": 1.0})), upd, num_epoch=2, num_minibatch=3,
          progress=True)
    importance_sampling(model, (), OBS, 7, progress=True)
    err = capsys.readouterr().err
    assert "train: 100%" in err and "6/6" in err and "held-out" in err
    assert "importance_sampling: 100%" in err and "7/7" in err
    train(fit, lambda: ((), choicemap({"y": 1.0})), upd, progress=False)
    importance_sampling(model, (), OBS, 7)  # off by default
    assert capsys.readouterr().err == ""


@gen(params={"m": 0.0, "log_s": 0.0})
def approx() -> None:
    normal(param("m"), anp.exp(param("log_s"))) @ "mu"


def test_black_box_vi_finds_the_posterior() -> None:
    approx.init_param("m", 0.0)
    approx.init_param("log_s", 0.0)
    upd = ParamUpdate(ADAM(0.05), {approx: ["m", "log_s"]})
    ms: list[float] = []
    ss: list[float] = []

    def record(it: int, elbo: float) -> None:
        ms.append(float(get_param(approx, "m")))
        ss.append(float(np.exp(get_param(approx, "log_s"))))

    elbo, traces, history = black_box_vi(model, (), OBS, approx, (), upd, iters=250,
                                         samples_per_iter=20, callback=record)
    assert len(traces) == 20 and history.shape == (250,) and elbo == history[-1]
    # The score-function gradient is noisy: compare the average of the last 100 iterates
    # (over seeds 1-3 and 12345 it lands within 0.03 of the posterior mean, 0.01 of its std).
    assert np.mean(ms[-100:]) == pytest.approx(POST_MEAN, abs=0.1)
    assert np.mean(ss[-100:]) == pytest.approx(POST_STD, abs=0.05)
    # The ELBO climbs to just below log p(ys) (equality iff q is the posterior).
    assert np.mean(history[-100:]) == pytest.approx(LOG_MARGINAL, abs=0.1)
    assert np.mean(history[:10]) < np.mean(history[-100:]) - 2
