"""Deferred calls and the Batch RPC: a training step in one round trip, same numbers,
errors surfacing at the next call, dropped traces resent, nothing lost on close."""

from __future__ import annotations

import numpy as np
import pytest
from gentf import (
    FixedStepGradientDescent,
    TFFunction,
    categorical,
    choicemap,
    errors,
    gen,
    generate,
    get_param_grad_tf_var,
    runtf,
    simulate,
    tf,
)
from gentf.inference import ParamUpdate
from gentf.v1 import worker_pb2


def _regression(session):
    """GenTF's max-likelihood model: mu = w[0] * xs + w[1], as a TFFunction of xs."""
    w = tf.Variable(np.zeros(2), name="w")
    xs = tf.placeholder(tf.float64, shape=(None,), name="xs")
    return w, TFFunction([w], [xs], w[0] * xs + w[1], session)


XS = np.array([-2.0, -1.0, 1.0, 2.0])
YS = np.array([5.0, 3.0, -1.0, -3.0])


def test_deferred_steps_give_the_synchronous_trajectory(session):
    w, f = _regression(session)
    updater = f.make_param_updater(FixedStepGradientDescent(0.01))
    for _ in range(2):
        trace = simulate(f, (XS,))
        f.accumulate_param_gradients_only(trace, YS - trace.get_retval(), 1.0)
        updater.apply()
    np.testing.assert_allclose(runtf(f, w), [-0.38, 0.0784], rtol=1e-12)
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, w)), [0.0, 0.0])


def test_a_gen_training_step_is_one_round_trip(session):
    x = tf.placeholder(tf.float64, shape=(None, 3), name="x")
    W = tf.Variable(np.zeros((3, 4)), name="W")
    net = TFFunction([W], [x], tf.nn.softmax(tf.matmul(x, W)), session)

    @gen
    def model(xv):
        probs = net(xv) @ "net"
        for i in range(len(xv)):
            categorical(probs[i]) @ ("y", i)

    update = ParamUpdate(FixedStepGradientDescent(0.1), {net: [W]})
    rng = np.random.default_rng(0)
    data = rng.normal(size=(8, 3))
    labels = choicemap({("y", i): int(i % 4) for i in range(8)})
    from gentf import accumulate_param_gradients_only as accumulate_param_gradients

    calls = session._transport.calls
    trace, first = generate(model, (data,), labels)   # warm: nodes synced, function built
    accumulate_param_gradients(trace)
    update.apply()
    before = sum(calls.values())
    steps = 5
    for _ in range(steps):
        trace, weight = generate(model, (data,), labels)
        accumulate_param_gradients(trace)
        update.apply()
    assert sum(calls.values()) - before == steps
    assert weight > first   # it trains
    assert np.all(runtf(net, W) != 0.0)


def test_a_deferred_failure_surfaces_at_the_next_call(session, snapshot, assert_unchanged):
    w, f = _regression(session)
    q = tf.placeholder(tf.float64, shape=(2,), name="q")
    check = tf.raw_ops.CheckNumerics(tensor=q, message="q has a NaN")
    bump = tf.group(tf.assign_add(w, np.ones(2)), check)
    session.sync()
    before = snapshot(w)
    session.run_later(bump, feed_dict={q: np.array([np.nan, 0.0])})
    with pytest.raises(errors.InvalidArgumentError) as info:
        f(XS)   # the untraced call sends the deferred run first
    assert info.value.code == "INVALID_ARGUMENT"
    assert "deferred RunOp" in str(info.value) and "q has a NaN" in str(info.value)
    assert info.value.failed_call == 0
    assert_unchanged(before)
    np.testing.assert_allclose(f(XS), np.zeros(4))   # the session goes on


def test_a_dropped_trace_is_resent_for_a_deferred_accumulate(tiny_trace_worker, session_on):
    with session_on(tiny_trace_worker.address) as sess:
        w, f = _regression(sess)
        t1 = simulate(f, (XS,))
        t2 = simulate(f, (XS * 2,))   # 64-byte store: t1's arguments are dropped
        f.accumulate_param_gradients_only(t1, YS, 1.0)
        f.accumulate_param_gradients_only(t2, YS, 1.0)
        acc = runtf(f, get_param_grad_tf_var(f, w))
        expected = np.array([YS @ XS + YS @ (2 * XS), 2 * YS.sum()])
        np.testing.assert_allclose(acc, expected)


def test_close_sends_deferred_calls(worker, session_on):
    with session_on(worker.address) as sess:
        w, f = _regression(sess)
        trace = simulate(f, (XS,))
        f.accumulate_param_gradients_only(trace, YS, 1.0)
        core = worker.sessions.get(sess.session_id)
        acc_name = get_param_grad_tf_var(f, w).op.name
        assert np.all(core.variable_value(acc_name) == 0.0)   # still queued
        sess.flush()
        np.testing.assert_allclose(core.variable_value(acc_name), [YS @ XS, YS.sum()])


def test_batch_rpc_runs_calls_in_order_and_reports_the_failing_index(session):
    w, f = _regression(session)
    trace = simulate(f, (XS,))
    ok = worker_pb2.GradientRequest(function_id=f.function_id, trace_handle=trace.handle,
                                    scale_factor=1.0, skip_arg_grads=True)
    ok.retval_grad.dtype = 2
    ok.retval_grad.shape[:] = [4]
    ok.retval_grad.content = YS.astype("<f8").tobytes()
    bad = worker_pb2.GradientRequest()
    bad.CopyFrom(ok)
    bad.function_id = "no-such-function"
    request = worker_pb2.BatchRequest(session_id=session.session_id)
    request.calls.add().accumulate_param_gradients.CopyFrom(ok)
    request.calls.add().accumulate_param_gradients.CopyFrom(bad)
    request.calls.add().accumulate_param_gradients.CopyFrom(ok)
    with pytest.raises(errors.NotFoundError) as info:
        session._transport.call("Batch", request)
    assert info.value.failed_call == 1 and "call 1" in info.value.details
    # the first call ran, the third did not
    np.testing.assert_allclose(runtf(f, get_param_grad_tf_var(f, w)), [YS @ XS, YS.sum()])
