"""Gradient parity with in-process TensorFlow (tf.GradientTape) for a random 2-layer tanh MLP."""

from __future__ import annotations

import numpy as np
import pytest
from gentf import (
    TFFunction,
    accumulate_param_gradients,
    choice_gradients,
    get_param_grad_tf_var,
    runtf,
    select,
    simulate,
    tf,
)

TOL = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 2e-5, "atol": 2e-6}}


def _mlp_values(dtype, seed, d_in=5, hidden=7, d_out=3, batch=4):
    rng = np.random.default_rng(seed)
    npd = np.dtype(dtype)
    return {
        "W1": rng.normal(size=(d_in, hidden)).astype(npd) * npd.type(0.5),
        "b1": rng.normal(size=(hidden,)).astype(npd),
        "W2": rng.normal(size=(hidden, d_out)).astype(npd),
        "b2": rng.normal(size=(d_out,)).astype(npd),
        "x": rng.normal(size=(batch, d_in)).astype(npd),
        "g": rng.normal(size=(batch, d_out)).astype(npd),
        "x2": rng.normal(size=(batch + 2, d_in)).astype(npd),
        "g2": rng.normal(size=(batch + 2, d_out)).astype(npd),
    }


def _reference(vals, x, g):
    import tensorflow as real_tf

    params = {k: real_tf.Variable(vals[k]) for k in ("W1", "b1", "W2", "b2")}
    xt = real_tf.constant(x)
    with real_tf.GradientTape() as tape:
        tape.watch(xt)
        h = real_tf.tanh(real_tf.matmul(xt, params["W1"]) + params["b1"])
        out = real_tf.matmul(h, params["W2"]) + params["b2"]
        objective = real_tf.reduce_sum(out * real_tf.constant(g))
    grads = tape.gradient(objective, [xt, *params.values()])
    return out.numpy(), grads[0].numpy(), {k: v.numpy() for k, v in zip(params, grads[1:])}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_gradient_parity(session, dtype):
    vals = _mlp_values(dtype, seed=7)
    tdt = getattr(tf, dtype)
    params = {k: tf.Variable(vals[k], name=k) for k in ("W1", "b1", "W2", "b2")}
    x = tf.placeholder(tdt, shape=(None, vals["x"].shape[1]), name="x")
    h = tf.tanh(tf.add(tf.matmul(x, params["W1"]), params["b1"]))
    out = tf.add(tf.matmul(h, params["W2"]), params["b2"])
    f = TFFunction(list(params.values()), [x], out, session)
    tol = TOL[dtype]

    ref_out, ref_xg, ref_pg = _reference(vals, vals["x"], vals["g"])
    trace = simulate(f, (vals["x"],))
    assert trace.get_retval().dtype == np.dtype(dtype)
    np.testing.assert_allclose(trace.get_retval(), ref_out, **tol)
    np.testing.assert_allclose(f(vals["x"]), ref_out, **tol)

    (xg,), _, _ = choice_gradients(trace, select(), vals["g"])
    assert xg.dtype == np.dtype(dtype)
    np.testing.assert_allclose(xg, ref_xg, **tol)

    (xg_acc,) = accumulate_param_gradients(trace, vals["g"], 1.0)
    np.testing.assert_allclose(xg_acc, ref_xg, **tol)
    for k, p in params.items():
        acc = runtf(f, get_param_grad_tf_var(f, p))
        assert acc.dtype == np.dtype(dtype)
        np.testing.assert_allclose(acc, ref_pg[k], err_msg=k, **tol)

    # a second trace with another batch size, scaled: accumulators hold the weighted sum
    ref_out2, ref_xg2, ref_pg2 = _reference(vals, vals["x2"], vals["g2"])
    trace2 = simulate(f, (vals["x2"],))
    np.testing.assert_allclose(trace2.get_retval(), ref_out2, **tol)
    (xg2,) = accumulate_param_gradients(trace2, vals["g2"], -2.5)
    np.testing.assert_allclose(xg2, ref_xg2, **tol)  # unscaled
    for k, p in params.items():
        acc = runtf(f, get_param_grad_tf_var(f, p))
        np.testing.assert_allclose(acc, ref_pg[k] - 2.5 * ref_pg2[k], err_msg=k, **tol)
    # the parameters themselves never moved
    for k, p in params.items():
        np.testing.assert_array_equal(runtf(f, p), vals[k])
