"""GenTF's reference values (research/gentf.md), through a real worker over loopback gRPC."""

from __future__ import annotations

import numpy as np
import pytest
from gentf import (
    ADAM,
    FixedStepGradientDescent,
    GradientDescent,
    TFFunction,
    accumulate_param_gradients,
    choice_gradients,
    choicemap,
    generate,
    get_param_grad_tf_var,
    get_session,
    reset_param_grads_tf_op,
    runtf,
    select,
    tf,
)

W0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
X0 = np.array([1.0, -1.0, 2.0])
G0 = np.array([0.5, -2.0])

XS = np.array([-2.0, -1.0, 1.0, 2.0])
YS = np.array([5.0, 3.0, -1.0, -3.0])


def _matvec(session):
    W = tf.Variable(W0, name="W")
    x = tf.placeholder(tf.float64, shape=(3,), name="x")
    y = tf.squeeze(tf.matmul(W, tf.expand_dims(x, axis=1)), axis=1)
    return W, x, TFFunction([W], [x], y, session)


def test_matvec_reference_values(session, snapshot):
    W, _, f = _matvec(session)
    assert get_session(f) is session
    acc = get_param_grad_tf_var(f, W)
    np.testing.assert_array_equal(runtf(f, acc), np.zeros((2, 3)))

    trace, weight = generate(f, (X0,), choicemap())
    assert weight == 0.0
    np.testing.assert_array_equal(trace.get_retval(), [5.0, 11.0])
    assert trace.get_retval().dtype == np.float64

    (x_grad,), _, _ = choice_gradients(trace, select(), G0)
    np.testing.assert_allclose(x_grad, W0.T @ G0)
    np.testing.assert_allclose(x_grad, [-7.5, -9.0, -10.5])
    # choice_gradients leaves the accumulator alone
    np.testing.assert_array_equal(runtf(f, acc), np.zeros((2, 3)))

    (x_grad1,) = accumulate_param_gradients(trace, G0, 1.0)
    np.testing.assert_allclose(x_grad1, [-7.5, -9.0, -10.5])
    outer = np.outer(G0, X0)
    np.testing.assert_allclose(outer, [[0.5, -0.5, 1.0], [-2.0, 2.0, -4.0]])
    np.testing.assert_allclose(runtf(f, acc), outer)

    (x_grad3,) = accumulate_param_gradients(trace, G0, 3.0)
    np.testing.assert_allclose(x_grad3, x_grad1)  # unscaled argument gradient
    np.testing.assert_allclose(runtf(f, acc), 4 * outer)
    # the worker's own state agrees with what runtf fetched; the param is untouched
    np.testing.assert_allclose(snapshot(acc.op.name)[acc.op.name], 4 * outer)
    np.testing.assert_array_equal(snapshot(W)["W"], W0)

    assert runtf(f, reset_param_grads_tf_op(f)) is None
    acc_val, w_val = runtf(f, [acc, W])
    np.testing.assert_array_equal(acc_val, np.zeros((2, 3)))
    np.testing.assert_array_equal(w_val, W0)


def test_matvec_default_scale_is_one(session):
    W, _, f = _matvec(session)
    trace, _ = generate(f, (X0,), choicemap())
    accumulate_param_gradients(trace, G0)
    np.testing.assert_allclose(runtf(f, get_param_grad_tf_var(f, W)), np.outer(G0, X0))


def test_matvec_untraced_call_and_feed(session):
    _, x, f = _matvec(session)
    np.testing.assert_array_equal(f(np.array([1.0, 1.0, 1.0])), [6.0, 15.0])
    np.testing.assert_array_equal(runtf(f, f.output, feed_dict={x: [1.0, 2.0, 3.0]}), [14.0, 32.0])


def _regression(session):
    w = tf.Variable(np.zeros(2), name="w")
    xs = tf.placeholder(tf.float64, shape=(None,), name="xs")
    col = tf.expand_dims(xs, axis=1)
    features = tf.concat([col, tf.ones_like(col)], axis=1)          # rows [x_i, 1]
    mu = tf.squeeze(tf.matmul(features, tf.expand_dims(w, axis=1)), axis=1)
    return w, TFFunction([w], [xs], mu, session)


def _ml_step(f, trace_args=(XS,)):
    trace, _ = generate(f, trace_args, choicemap())
    # d/dmu sum_i log normal(y_i; mu_i, 1) = y - mu
    accumulate_param_gradients(trace, YS - trace.get_retval())


def _reference_trajectory(steps, step_size=0.01):
    w = np.zeros(2)
    A = np.stack([XS, np.ones_like(XS)], axis=1)
    out = []
    for _ in range(steps):
        w = w + step_size * A.T @ (YS - A @ w)
        out.append(w.copy())
    return out


def test_regression_reference_values():
    ref = _reference_trajectory(1000)
    np.testing.assert_allclose(ref[0], [-0.2, 0.04])
    np.testing.assert_allclose(ref[1], [-0.38, 0.0784])
    np.testing.assert_allclose(ref[-1], [-2.0, 1.0], atol=1e-6)


def test_max_likelihood_trajectory_with_sgd_op(session):
    w, f = _regression(session)
    acc = get_param_grad_tf_var(f, w)
    step = tf.train.GradientDescentOptimizer(0.01).apply_gradients([(tf.negative(acc), w)])
    reset = reset_param_grads_tf_op(f)
    ref = _reference_trajectory(1000)

    _ml_step(f)
    np.testing.assert_allclose(runtf(f, acc), [-20.0, 4.0])  # gradient of the log-likelihood at 0
    runtf(f, step)
    runtf(f, reset)
    np.testing.assert_allclose(runtf(f, w), [-0.2, 0.04], rtol=1e-12)
    np.testing.assert_array_equal(runtf(f, acc), [0.0, 0.0])

    _ml_step(f)
    runtf(f, step)
    runtf(f, reset)
    np.testing.assert_allclose(runtf(f, w), [-0.38, 0.0784], rtol=1e-12)

    for _ in range(998):
        _ml_step(f)
        runtf(f, [step])
        runtf(f, reset)
    final = runtf(f, w)
    np.testing.assert_allclose(final, ref[-1], rtol=1e-9)
    np.testing.assert_allclose(final, [-2.0, 1.0], atol=1e-3)


def test_max_likelihood_with_fixed_step_updater(session):
    w, f = _regression(session)
    updater = f.make_param_updater(FixedStepGradientDescent(0.01))
    acc = get_param_grad_tf_var(f, w)
    ref = _reference_trajectory(300)
    _ml_step(f)
    updater.apply()
    np.testing.assert_allclose(runtf(f, w), [-0.2, 0.04], rtol=1e-12)
    np.testing.assert_array_equal(runtf(f, acc), [0.0, 0.0])  # apply() resets
    _ml_step(f)
    updater.apply()
    np.testing.assert_allclose(runtf(f, w), [-0.38, 0.0784], rtol=1e-12)
    for _ in range(298):
        _ml_step(f)
        updater.apply()
    np.testing.assert_allclose(runtf(f, w), ref[-1], rtol=1e-9)


def test_gradient_descent_conf_schedule(session):
    w, f = _regression(session)
    conf = GradientDescent(0.02, 3.0)
    updater = f.make_param_updater(conf)
    A = np.stack([XS, np.ones_like(XS)], axis=1)
    expected = np.zeros(2)
    for t in range(1, 6):
        _ml_step(f)
        updater.apply()
        step_t = conf.step_size_init * (conf.step_size_beta + 1) / (conf.step_size_beta + t)
        expected = expected + step_t * A.T @ (YS - A @ expected)
        np.testing.assert_allclose(runtf(f, w), expected, rtol=1e-12, err_msg=f"step {t}")
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, w)), [0.0, 0.0])


@pytest.mark.parametrize("conf", [ADAM(0.05), ADAM(0.1, 0.8, 0.99, 1e-3)], ids=["default", "custom"])
def test_adam_conf_formula(session, conf):
    w, f = _regression(session)
    updater = f.make_param_updater(conf)
    A = np.stack([XS, np.ones_like(XS)], axis=1)
    p = np.zeros(2)
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, 8):
        _ml_step(f)
        g = A.T @ (YS - A @ p)
        np.testing.assert_allclose(runtf(f, get_param_grad_tf_var(f, w)), g, rtol=1e-12)
        updater.apply()
        m = conf.beta1 * m + (1 - conf.beta1) * g
        v = conf.beta2 * v + (1 - conf.beta2) * g * g
        lr_t = conf.learning_rate * np.sqrt(1 - conf.beta2**t) / (1 - conf.beta1**t)
        p = p + lr_t * m / (np.sqrt(v) + conf.epsilon)
        np.testing.assert_allclose(runtf(f, w), p, rtol=1e-9, atol=1e-12, err_msg=f"step {t}")
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, w)), [0.0, 0.0])


def test_updater_on_a_subset_of_params(session):
    a = tf.Variable(np.array([1.0, 2.0]), name="a")
    b = tf.Variable(np.array([3.0, 4.0]), name="b")
    x = tf.placeholder(tf.float64, shape=(2,), name="x")
    f = TFFunction([a, b], [x], a * x + b, session)
    updater = f.make_param_updater(FixedStepGradientDescent(0.5), [a])
    trace, _ = generate(f, (np.array([2.0, 3.0]),), choicemap())
    accumulate_param_gradients(trace, np.array([1.0, 1.0]))
    updater.apply()
    np.testing.assert_allclose(runtf(f, a), [2.0, 3.5])   # a += 0.5 * x
    np.testing.assert_array_equal(runtf(f, b), [3.0, 4.0])  # b untouched
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, a)), [0.0, 0.0])
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, b)), [1.0, 1.0])  # not reset
    with pytest.raises(ValueError, match="not a parameter"):
        f.make_param_updater(FixedStepGradientDescent(0.5), [tf.Variable(np.zeros(2), name="c")])
