"""The worker's fast paths (issue 9): a Batch of accumulate + update + generate runs as one
compiled TensorFlow call with exactly the numbers of the calls one by one; a failure in it
reports and changes what the calls one by one would; functions compile at Construct."""

from __future__ import annotations

import numpy as np
import pytest
from gentf import (
    FixedStepGradientDescent,
    TFFunction,
    errors,
    get_param_grad_tf_var,
    runtf,
    simulate,
    tf,
)
from gentf.graph._apply import apply_op

RNG = np.random.default_rng(7)
XS = [RNG.normal(size=(6, 5)).astype(np.float32) for _ in range(4)]
YS = [RNG.integers(0, 3, size=6) for _ in range(4)]
W0 = RNG.normal(size=(5, 3)).astype(np.float32)
B0 = RNG.normal(size=3).astype(np.float32)


def _net(session, tag):
    x = tf.placeholder(tf.float32, shape=(None, 5), name=f"x_{tag}")
    W = tf.Variable(W0, name=f"W_{tag}")
    b = tf.Variable(B0, name=f"b_{tag}")
    f = TFFunction([W, b], [x], tf.nn.softmax(tf.add(tf.matmul(x, W), b)), session)
    return f, W, b, f.make_param_updater(FixedStepGradientDescent(0.1))


def _train(f, updater, scale=0.5):
    """Three deferred steps (each step's accumulate and update travel in one Batch with the
    next step's generate), then a flush; returns the return values seen."""
    retvals = []
    for xs, ys in zip(XS, YS):
        trace = simulate(f, (xs,))
        retvals.append(trace.get_retval())
        grad = -trace.get_retval()
        grad[np.arange(len(ys)), ys] += 1.0
        f.accumulate_param_gradients_only(trace, grad, scale)
        updater.apply()
    f.session.flush()
    return retvals


def _fused_outcomes(core_session, monkeypatch):
    """A list that gets, for each Batch the session is asked to fuse from now on, whether it
    ran as one fused call (False: it fell back to the calls one by one)."""
    outcomes = []
    run_fused = core_session.run_fused

    def recording(calls):
        result = run_fused(calls)
        outcomes.append(result is not None)
        return result

    monkeypatch.setattr(core_session, "run_fused", recording)
    return outcomes


def test_a_scalar_valued_function_trains_fused_with_the_numbers_one_by_one(
        session, core_session, monkeypatch):
    """A loss-like function (a scalar return value, whose value comes from TensorFlow as a
    numpy scalar) runs every deferred step as one fused call, with the numbers of the calls
    one by one."""
    outcomes = _fused_outcomes(core_session, monkeypatch)

    def train(tag):
        x = tf.placeholder(tf.float32, shape=(None, 5), name=f"x_{tag}")
        W = tf.Variable(W0, name=f"W_{tag}")
        f = TFFunction([W], [x], tf.reduce_sum(tf.square(tf.matmul(x, W))), session)
        updater = f.make_param_updater(FixedStepGradientDescent(0.01))
        values = []
        for xs in XS:
            trace = simulate(f, (xs,))
            values.append(trace.get_retval())
            f.accumulate_param_gradients_only(trace, np.float32(-1.0), 0.5)
            updater.apply()
        f.session.flush()
        return values, runtf(f, W)

    fused_values, fused_W = train("scalar_fused")
    assert len(outcomes) == len(XS) and all(outcomes)  # each Batch: one fused call
    core_session.fuse_batches = False
    plain_values, plain_W = train("scalar_plain")
    assert all(v.shape == () for v in fused_values)
    for a, b in zip(fused_values, plain_values):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fused_W, plain_W)
    assert not np.array_equal(fused_W, W0)  # it trained


@pytest.mark.parametrize("scale", [0.5, 1.0])  # 1.0: traced with no multiplication
def test_fused_batches_give_exactly_the_calls_one_by_one(session, core_session, scale,
                                                         monkeypatch):
    fused, W1, b1, up1 = _net(session, "fused")
    plain, W2, b2, up2 = _net(session, "plain")
    assert not core_session._fused
    outcomes = _fused_outcomes(core_session, monkeypatch)
    retvals_fused = _train(fused, up1, scale)
    assert len(outcomes) == len(XS) and all(outcomes)  # fused, not fallen back to one by one
    # each later step was one fused call (accumulate, update, generate); so was the flush
    assert sorted(len(k) for k in core_session._fused) == [2, 3]
    assert all(step[2] == (scale == 1.0) for k in core_session._fused for step in k
               if step[0].startswith("accumulate"))
    core_session.fuse_batches = False
    retvals_plain = _train(plain, up2, scale)
    assert len(core_session._fused) == 2
    for a, b in zip(retvals_fused, retvals_plain):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runtf(fused, W1), runtf(plain, W2))
    np.testing.assert_array_equal(runtf(fused, b1), runtf(plain, b2))
    assert not np.array_equal(runtf(fused, W1), W0)  # it trained
    for p1, p2 in ((W1, W2), (b1, b2)):
        np.testing.assert_array_equal(runtf(fused, get_param_grad_tf_var(fused, p1)),
                                      runtf(plain, get_param_grad_tf_var(plain, p2)))


def _failing_update(W):
    """Adds 1 to W, then fails in TensorFlow (CheckNumerics of log(-1))."""
    bump = tf.assign_add(W, np.ones(W0.shape, np.float32))
    nan = tf.log(tf.constant(-1.0))
    check = apply_op("CheckNumerics", [nan], {"message": "boom"}).outputs[0]
    return tf.group(bump, check)


@pytest.mark.parametrize("fuse", [True, False])
def test_a_failing_fused_batch_does_what_the_calls_one_by_one_do(session, core_session, fuse):
    core_session.fuse_batches = fuse
    f, W, b, _ = _net(session, "fail")
    bad = _failing_update(W)
    session.sync([bad])
    trace = simulate(f, (XS[0],))
    f.accumulate_param_gradients_only(trace, np.ones((6, 3), np.float32), 1.0)
    session.run_later(bad)
    with pytest.raises(errors.InvalidArgumentError, match="boom"):
        simulate(f, (XS[1],))
    # The accumulation (call 0) happened, the failed run (call 1) changed nothing, the
    # generate (call 2) never ran.
    np.testing.assert_array_equal(runtf(f, W), W0)
    expected_b = np.zeros(3, np.float32)
    # d/db of sum(softmax(xW+b)) with all-ones gradient: 0 up to rounding
    acc_b = runtf(f, get_param_grad_tf_var(f, b))
    np.testing.assert_allclose(acc_b, expected_b, atol=1e-5)
    acc_W = runtf(f, get_param_grad_tf_var(f, W))
    assert acc_W.shape == W0.shape
    assert not core_session._fused or fuse


def test_a_fused_failure_leaves_the_same_state_as_one_by_one(session, core_session):
    states = []
    for fuse in (True, False):
        core_session.fuse_batches = fuse
        f, W, b, _ = _net(session, f"same{int(fuse)}")
        bad = _failing_update(W)
        session.sync([bad])  # so that the Batch holds the accumulation, the run, the generate
        trace = simulate(f, (XS[0],))
        f.accumulate_param_gradients_only(trace, np.full((6, 3), 0.25, np.float32), 2.0)
        session.run_later(bad)
        with pytest.raises(errors.InvalidArgumentError, match="call 1"):
            simulate(f, (XS[1],))
        states.append([runtf(f, W), runtf(f, b), runtf(f, get_param_grad_tf_var(f, W)),
                       runtf(f, get_param_grad_tf_var(f, b))])
    for a, c in zip(*states):
        np.testing.assert_array_equal(a, c)


def test_functions_compile_at_construct(session, core_session):
    f, _, _, _ = _net(session, "compile")
    fn = core_session._functions[f.function_id]
    traced = [g.experimental_get_tracing_count() for g in
              (fn._forward, fn._vjp, fn._accumulate, fn._accumulate_params)]
    assert traced == [1, 1, 1, 1]
    trace = simulate(f, (XS[0],))
    f.accumulate_param_gradients(trace, np.ones((6, 3), np.float32), 1.0)
    f.accumulate_param_gradients_only(trace, np.ones((6, 3), np.float32), 1.0)
    assert [g.experimental_get_tracing_count() for g in
            (fn._forward, fn._vjp, fn._accumulate, fn._accumulate_params)] == traced


def test_accumulators_and_resets_are_made_on_the_worker(session):
    x = tf.placeholder(tf.float32, shape=(None, 200), name="x_ship")
    w0 = RNG.normal(size=(200, 100)).astype(np.float32)  # 80,000 bytes
    W = tf.Variable(w0, name="W_ship")
    sent = []
    transport = session._transport
    original = transport.call

    def counting(method, request, *a, **k):
        from gentf.remote._transport import request_tensors
        from gentf.wire._codec import tensor_nbytes

        # the message, and the elements held beside it (sent as attachments or blobs)
        beside = sum(tensor_nbytes(t) for t in request_tensors(method, request) if t.blob_id)
        sent.append(request.ByteSize() + beside)
        return original(method, request, *a, **k)

    transport.call = counting
    try:
        f = TFFunction([W], [x], tf.matmul(x, W), session)
    finally:
        del transport.call
    # W's bytes travel once: no zeroed accumulator, no zeros constant for the reset
    assert w0.nbytes < sum(sent) < w0.nbytes + 8000
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, W)), np.zeros_like(w0))
    trace = simulate(f, (np.ones((2, 200), np.float32),))
    f.accumulate_param_gradients_only(trace, np.ones((2, 100), np.float32), 1.0)
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, W)), np.full((200, 100), 2.0))
    runtf(f, f.reset_param_grads_op if hasattr(f, "reset_param_grads_op") else f._reset_op)
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, W)), np.zeros_like(w0))


def _accumulate_batch(session, f, request_id, grad):
    """A Generate (kept trace), then the Batch [accumulate(trace, request_id), generate]."""
    from gentf.v1 import worker_pb2
    from gentf.wire import fill_tensor

    gen = worker_pb2.GenerateRequest(session_id=session.session_id, function_id=f.function_id,
                                     keep_trace=True)
    fill_tensor(gen.args.add(), XS[0])
    handle = session.call("Generate", gen).trace_handle
    batch = worker_pb2.BatchRequest(session_id=session.session_id)
    call = batch.calls.add().accumulate_param_gradients
    call.function_id, call.trace_handle, call.scale_factor = f.function_id, handle, 1.0
    call.skip_arg_grads, call.request_id = True, request_id
    fill_tensor(call.retval_grad, grad)
    nxt = batch.calls.add().generate
    nxt.CopyFrom(gen)
    nxt.session_id = ""
    return batch


def test_a_retried_fused_batch_is_applied_once_and_counts_as_a_change(session, core_session):
    """A fused Batch carrying request ids, sent twice (a retry after a lost reply), adds its
    gradient once (the same as a Batch sent once); it marks the session changed, so
    checkpoints see fused steps."""
    grad = RNG.normal(size=(6, 3)).astype(np.float32)
    twice, W2, _, _ = _net(session, "twice")
    once, W1, _, _ = _net(session, "once")
    session.flush()
    changes = core_session.changes
    fused_before = len(core_session._fused)
    batch = _accumulate_batch(session, twice, 4242, grad)
    for _ in range(2):
        session._transport.call("Batch", batch)
    assert len(core_session._fused) == fused_before + 1  # the first went fused
    assert core_session.changes > changes
    session._transport.call("Batch", _accumulate_batch(session, once, 4343, grad))
    acc_twice = runtf(twice, get_param_grad_tf_var(twice, W2))
    assert np.abs(acc_twice).max() > 1e-3
    np.testing.assert_array_equal(acc_twice, runtf(once, get_param_grad_tf_var(once, W1)))


def _checked_bump(W, tag):
    """Adds the fed scalar to every entry of W, then fails in TensorFlow when it is NaN
    (CheckNumerics): the same op succeeds or fails by the value fed."""
    v = tf.placeholder(tf.float32, shape=(), name=f"v_{tag}")
    bump = tf.assign_add(W, tf.fill(list(W0.shape), v))
    check = apply_op("CheckNumerics", [v], {"message": "bad bump"}).outputs[0]
    return v, tf.group(bump, check)


def _two_fused_steps_then_a_failing_one(session, f, W, v, bump):
    """Two Batches [accumulate, bump(1.0), generate] (the same fused call twice), then a
    third whose bump is fed NaN: it fails, and is run call by call."""
    session.sync([bump])
    trace = simulate(f, (XS[0],))
    for i, fed in enumerate((1.0, 2.0, float("nan"))):
        f.accumulate_param_gradients_only(trace, np.full((6, 3), 0.5, np.float32), 1.0)
        session.run_later(bump, feed_dict={v: fed})
        if i < 2:
            trace = simulate(f, (XS[i + 1],))
        else:
            with pytest.raises(errors.InvalidArgumentError, match="bad bump"):
                simulate(f, (XS[3],))


def test_a_fused_step_after_fused_steps_is_undone_to_the_values_they_left(session, core_session):
    """The second and third Batches reuse the values the previous fused call left instead
    of a snapshot of their own: the failing third must come back to exactly the state the
    second left plus its own accumulation (what the calls one by one give)."""
    states = []
    for fuse in (True, False):
        core_session.fuse_batches = fuse
        f, W, b, _ = _net(session, f"left{int(fuse)}")
        v, bump = _checked_bump(W, f"left{int(fuse)}")
        fused_before = len(core_session._fused)
        _two_fused_steps_then_a_failing_one(session, f, W, v, bump)
        if fuse:
            assert len(core_session._fused) == fused_before + 1  # one FusedCall, reused
        states.append([runtf(f, W), runtf(f, b), runtf(f, get_param_grad_tf_var(f, W)),
                       runtf(f, get_param_grad_tf_var(f, b))])
    np.testing.assert_array_equal(states[0][0], (W0 + np.float32(1)) + np.float32(2))  # no NaN
    for a, c in zip(*states):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64", "complex64"])
def test_a_unit_scale_leaves_a_real_gradient_as_the_product_would(dtype):
    """A fused accumulation whose scale is 1 adds the gradient as it is: for every value of
    a real float type (signed zeros, infinities, NaN, subnormals, the largest) that is the
    product ``1.0 * g`` bit for bit; a complex gradient is still multiplied (there
    ``(a + bi)(1 + 0i)`` differs from ``a + bi``)."""
    import tensorflow as real_tf
    from gentf_server.core.functions import _scaled

    d = real_tf.as_dtype(dtype)
    values = [0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan"), 1e-40, -1e-45,
              3e38, 6e4, 1e-7]
    g = real_tf.cast(real_tf.constant(values, real_tf.float64), d)
    if d.is_complex:
        g = real_tf.complex(real_tf.constant(values, real_tf.float32),
                            real_tf.constant(values[::-1], real_tf.float32))
    one = real_tf.constant(1.0, real_tf.float64)
    product = real_tf.cast(one, d) * g
    got = _scaled(g, one, unit=True)
    assert (got is g) == (not d.is_complex)

    def bits(t):
        return real_tf.bitcast(t, real_tf.uint8).numpy().tobytes() if not d.is_complex \
            else t.numpy().tobytes()

    assert bits(got) == bits(product)
