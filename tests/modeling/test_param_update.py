"""ParamUpdate rules against their formulas, and GenTF's max-likelihood trajectory."""

from __future__ import annotations

import numpy as np
import pytest
from gentf.dsl import gen, get_param, get_param_grad, normal, param
from gentf.gfi import GenerativeFunction, accumulate_param_gradients, choicemap, generate
from gentf.inference import ADAM, FixedStepGradientDescent, GradientDescent, ParamUpdate

G1 = np.array([0.5, -2.0])
G2 = np.array([1.5, 0.25])


def _fn() -> GenerativeFunction:
    @gen(params={"p": np.array([1.0, -1.0]), "q": 0.0})
    def f() -> None:
        param("p")

    return f


def _step(f: object, upd: ParamUpdate, g: np.ndarray) -> np.ndarray:
    f.add_param_grad("p", g)  # type: ignore[attr-defined]
    upd.apply()
    assert not get_param_grad(f, "p").any()  # zeroed after the step
    return np.array(get_param(f, "p"))


def test_fixed_step() -> None:
    f = _fn()
    upd = ParamUpdate(FixedStepGradientDescent(0.1), {f: ["p"]})
    p1 = _step(f, upd, G1)
    assert np.allclose(p1, [1.0, -1.0] + 0.1 * G1)
    assert np.allclose(_step(f, upd, G2), p1 + 0.1 * G2)
    assert float(get_param(f, "q")) == 0.0  # not listed: untouched


def test_gradient_descent_schedule() -> None:
    f = _fn()
    upd = ParamUpdate(GradientDescent(0.2, 3.0), {f: ["p"]})
    p1 = _step(f, upd, G1)
    assert np.allclose(p1, [1.0, -1.0] + 0.2 * (3 + 1) / (3 + 1) * G1)
    p2 = _step(f, upd, G2)
    assert np.allclose(p2, p1 + 0.2 * (3 + 1) / (3 + 2) * G2)


def test_adam() -> None:
    f = _fn()
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    upd = ParamUpdate(ADAM(lr, b1, b2, eps), {f: ["p"]})
    p = np.array([1.0, -1.0])
    m = v = np.zeros(2)
    for t, g in enumerate([G1, G2], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p + lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
        assert np.allclose(_step(f, upd, g), p)


def test_param_update_errors() -> None:
    f = _fn()
    with pytest.raises(TypeError, match="ParamConf"):
        ParamUpdate(0.1, {f: ["p"]})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dict"):
        ParamUpdate(FixedStepGradientDescent(0.1), [f])  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="no parameter 'r'"):
        ParamUpdate(FixedStepGradientDescent(0.1), {f: ["r"]})
    with pytest.raises(TypeError, match="must be a list"):
        ParamUpdate(FixedStepGradientDescent(0.1), {f: "p"})

    from numpy_gen_fn import Linear

    class NoParams(Linear):
        make_param_updater = GenerativeFunction.make_param_updater  # the default

    with pytest.raises(NotImplementedError, match="NoParams"):
        ParamUpdate(FixedStepGradientDescent(0.1), {NoParams(np.eye(2)): ["W"]})


XS = np.array([-2.0, -1.0, 1.0, 2.0])
YS = [5.0, 3.0, -1.0, -3.0]


@gen(params={"w": np.zeros(2)})
def regression(xs: np.ndarray) -> None:
    w = param("w")
    mu = w[0] * xs + w[1]
    for i in range(len(xs)):
        normal(mu[i], 1.0) @ ("y", i)


def test_gentf_max_likelihood_trajectory() -> None:
    regression.init_param("w", np.zeros(2))
    obs = choicemap({("y", i): y for i, y in enumerate(YS)})
    upd = ParamUpdate(FixedStepGradientDescent(0.01), {regression: ["w"]})
    trajectory = []
    for _ in range(1000):
        trace, _ = generate(regression, (XS,), obs)
        accumulate_param_gradients(trace)
        upd.apply()
        trajectory.append(np.array(get_param(regression, "w")))
    assert np.allclose(trajectory[0], [-0.2, 0.04])
    assert np.allclose(trajectory[1], [-0.38, 0.0784])
    assert np.allclose(trajectory[-1], [-2.0, 1.0], atol=1e-6)  # least squares: w = (-2, 1)
