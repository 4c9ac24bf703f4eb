"""TFFunctions inside @gen models, on a real worker over loopback gRPC (fixture ``session``)."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from fd import fd_grad
from gentf import TFFunction, get_param_grad_tf_var, reset_param_grads_tf_op, runtf, tf
from gentf.dsl import categorical, gen, get_param_grad, normal, param, set_param
from gentf.gfi import (
    accumulate_param_gradients,
    assess,
    choice_gradients,
    choicemap,
    generate,
    select,
    simulate,
)
from gentf.inference import FixedStepGradientDescent, ParamUpdate

W0 = np.array([[0.2, -0.5], [0.4, 0.1], [-0.3, 0.6]])
X0 = np.array([[0.5, -1.0, 0.3], [1.2, 0.4, -0.7], [-0.2, 0.9, 1.1], [0.0, -0.6, 0.8]])


def _tanh_net(session: Any, dtype: Any = tf.float64) -> tuple[TFFunction, Any]:
    np_dtype = np.float64 if dtype == tf.float64 else np.float32
    xs = tf.placeholder(dtype, shape=(None, 3), name="xs")
    W = tf.Variable(W0.astype(np_dtype), name="W")
    net = TFFunction([W], [xs], tf.tanh(tf.matmul(xs, W)), session)
    return net, W


def _model(net: TFFunction) -> Any:
    @gen(params={"theta": np.array([1.0, -0.5, 0.8])})
    def model(x: np.ndarray) -> Any:
        h = net(x * param("theta")) @ "net"
        y = normal(h, 0.5) @ "y"
        normal(anp.sum(h * h), 1.0) @ "s"
        return y

    return model


def _objective(model: Any, x: np.ndarray, choices: Any) -> float:
    return float(assess(model, (x,), choices)[0])


def test_call_inside_a_model_is_traced_and_outside_is_untraced(session: Any) -> None:
    net, _ = _tanh_net(session)
    assert np.allclose(net(X0), np.tanh(X0 @ W0))  # outside: the return value

    @gen
    def model(x: np.ndarray) -> Any:
        return net(x) @ "net"

    trace = simulate(model, (X0,))
    assert np.allclose(trace.get_retval(), np.tanh(X0 @ W0))
    assert trace["net"] is trace.get_retval()
    assert trace.get_score() == 0.0 and trace.get_choices().is_empty()


def test_gradients_through_a_tffunction_match_finite_differences(session: Any) -> None:
    net, W = _tanh_net(session)
    model = _model(net)
    trace, _ = generate(model, (X0,), choicemap({"y": np.full((4, 2), 0.3), "s": 1.0}))
    choices = trace.get_choices()

    (x_grad,), _, grads = choice_gradients(trace, select("y"), None)
    assert np.allclose(x_grad, fd_grad(lambda v: _objective(model, v, choices), X0),
                       rtol=1e-5, atol=1e-6)

    def f_y(v: np.ndarray) -> float:
        return _objective(model, X0, choicemap({"y": v, "s": 1.0}))

    assert np.allclose(grads["y"], fd_grad(f_y, choices["y"]), rtol=1e-5, atol=1e-6)
    assert not runtf(net, get_param_grad_tf_var(net, W)).any()  # choice_gradients: no params

    (x_grad2,) = accumulate_param_gradients(trace, None, 1.0)
    assert np.allclose(x_grad2, x_grad)
    theta0 = np.array([1.0, -0.5, 0.8])

    def f_theta(v: np.ndarray) -> float:
        set_param(model, "theta", v)
        try:
            return _objective(model, X0, choices)
        finally:
            set_param(model, "theta", theta0)

    assert np.allclose(get_param_grad(model, "theta"), fd_grad(f_theta, theta0),
                       rtol=1e-5, atol=1e-6)
    # The worker's accumulator against the analytic gradient of the same objective.
    u = X0 * theta0
    h = np.tanh(u @ W0)
    dh = (choices["y"] - h) / 0.25 + (choices["s"] - np.sum(h * h)) * 2 * h
    expected = u.T @ (dh * (1 - h * h))
    acc = runtf(net, get_param_grad_tf_var(net, W))
    assert np.allclose(acc, expected, rtol=1e-6, atol=1e-8)

    # The scale factor scales the worker-side increment, not the argument gradients.
    (x_grad3,) = accumulate_param_gradients(trace, None, -2.0)
    assert np.allclose(x_grad3, x_grad)
    assert np.allclose(runtf(net, get_param_grad_tf_var(net, W)), -expected, rtol=1e-6, atol=1e-8)
    runtf(net, reset_param_grads_tf_op(net))


def test_float32_network_gradients_arrive_as_float64(session: Any) -> None:
    net, _ = _tanh_net(session, tf.float32)

    @gen
    def model(x: np.ndarray) -> None:
        h = net(x) @ "net"
        normal(h, 1.0) @ "y"

    y = np.zeros((4, 2))
    trace, _ = generate(model, (X0,), choicemap({"y": y}))
    assert trace["net"].dtype == np.float32
    (x_grad,), _, _ = choice_gradients(trace, select(), None)
    assert x_grad.dtype == np.float64
    h = np.tanh(X0 @ W0)
    assert np.allclose(x_grad, ((y - h) * (1 - h * h)) @ W0.T, rtol=1e-4, atol=1e-5)


def test_network_on_plain_data_still_trains(session: Any) -> None:
    net, W = _tanh_net(session)

    @gen
    def model() -> None:  # nothing the network sees carries a gradient
        h = net(X0) @ "net"
        normal(h, 1.0) @ "y"

    trace, _ = generate(model, (), choicemap({"y": np.ones((4, 2))}))
    accumulate_param_gradients(trace)
    h = np.tanh(X0 @ W0)
    assert np.allclose(runtf(net, get_param_grad_tf_var(net, W)),
                       X0.T @ ((1 - h) * (1 - h * h)), rtol=1e-6)


def _digits(session: Any, n: int) -> tuple[TFFunction, Any, Any, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    xs_val = (digits.data[:n] / 16.0).astype(np.float32)
    ys_val = digits.target[:n].astype(np.int64)
    xs = tf.placeholder(tf.float32, shape=(None, 64), name="xs")
    W = tf.Variable(np.zeros((64, 10), np.float32), name="W")
    b = tf.Variable(np.zeros(10, np.float32), name="b")
    net = TFFunction([W, b], [xs], tf.nn.softmax(tf.add(tf.matmul(xs, W), b), axis=-1), session)
    return net, W, b, xs_val, ys_val


def test_digits_model_first_weight_is_n_log_tenth(session: Any) -> None:
    n = 100
    net, W, b, xs_val, ys_val = _digits(session, n)

    @gen
    def model(xs: np.ndarray) -> None:
        probs = net(xs) @ "net"
        for i in range(len(xs)):
            categorical(probs[i]) @ ("y", i)

    obs = choicemap({("y", i): int(y) for i, y in enumerate(ys_val)})
    trace, weight = generate(model, (xs_val,), obs)
    assert weight == pytest.approx(n * np.log(0.1), rel=1e-6)
    upd = ParamUpdate(FixedStepGradientDescent(0.05), {net: [W, b]})
    accumulate_param_gradients(trace)
    upd.apply()
    _, weight2 = generate(model, (xs_val,), obs)
    assert weight2 > weight  # one ascent step raises the likelihood
    assert not runtf(net, get_param_grad_tf_var(net, W)).any()  # reset after the step


def test_gentf_regression_through_a_tffunction(session: Any) -> None:
    design = np.stack([np.array([-2.0, -1.0, 1.0, 2.0]), np.ones(4)], axis=1)
    xs = tf.placeholder(tf.float64, shape=(None, 2), name="xs")
    w = tf.Variable(np.zeros((2, 1)), name="w")
    net = TFFunction([w], [xs], tf.matmul(xs, w), session)

    @gen
    def model(X: np.ndarray) -> None:
        mu = net(X) @ "net"
        for i in range(len(X)):
            normal(mu[i, 0], 1.0) @ ("y", i)

    obs = choicemap({("y", i): y for i, y in enumerate([5.0, 3.0, -1.0, -3.0])})
    upd = ParamUpdate(FixedStepGradientDescent(0.01), {net: [w]})
    trajectory = []
    for _ in range(1000):
        trace, _ = generate(model, (design,), obs)
        accumulate_param_gradients(trace)
        upd.apply()
        if len(trajectory) < 2:
            trajectory.append(runtf(net, w).ravel())
    assert np.allclose(trajectory[0], [-0.2, 0.04])
    assert np.allclose(trajectory[1], [-0.38, 0.0784])
    assert np.allclose(runtf(net, w).ravel(), [-2.0, 1.0], atol=1e-6)
