"""Kept traces save what their parameter gradients need (``gentf_server.core.saved``, issue 9):
accumulating from the saved tensors gives exactly what running the forward again gives, in
fused Batches and call by call, and the saved tensors serve only while no variable was
written since their forward."""

from __future__ import annotations

import numpy as np
from gentf import (
    TFFunction,
    accumulate_param_gradients,
    choice_gradients,
    get_param_grad_tf_var,
    runtf,
    simulate,
    tf,
)

from tests.worker.small_mlp import INIT, XS, YS, mlp, numpy_grads, output_grad, state, train


def _function(core_session, f):
    return core_session._functions[f.function_id]


def test_fused_steps_from_saved_tensors_are_exactly_the_forward_run_again(session, core_session):
    saved, p_saved, up_saved = mlp(session, "saved")
    again, p_again, up_again = mlp(session, "again")
    assert _function(core_session, saved).saved is not None
    retvals_saved = train(saved, up_saved)
    kinds = {step[0] for key in core_session._fused for step in key}
    assert {"forward_saving", "accumulate_saved"} <= kinds
    core_session.save_forwards = False
    retvals_again = train(again, up_again)
    again_kinds = {step[0] for key in core_session._fused for step in key
                   if step[1] == again.function_id}
    assert again_kinds == {"forward", "accumulate"}
    for a, b in zip(retvals_saved, retvals_again):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(state(saved, p_saved), state(again, p_again)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(runtf(saved, p_saved[0]), INIT[0])  # it trained


def test_call_by_call_accumulations_from_saved_tensors_are_exact(session, core_session, monkeypatch):
    core_session.fuse_batches = False
    saved, p_saved, up_saved = mlp(session, "saved")
    again, p_again, up_again = mlp(session, "again")
    used = _spy(monkeypatch, _function(core_session, saved), "accumulate_saved")
    train(saved, up_saved)
    assert len(used) == len(XS)  # every accumulation took the saved path
    core_session.save_forwards = False
    train(again, up_again)
    for a, b in zip(state(saved, p_saved), state(again, p_again)):
        np.testing.assert_array_equal(a, b)


def test_the_saved_gradient_is_the_gradient(session):
    f, params, _ = mlp(session, "g")
    trace = simulate(f, (XS[0],))
    grad = output_grad(trace.get_retval(), YS[0])
    f.accumulate_param_gradients_only(trace, grad, 1.0)
    session.flush()
    for p, want in zip(params, numpy_grads(INIT, XS[0], grad)):
        np.testing.assert_allclose(runtf(f, get_param_grad_tf_var(f, p)), want, rtol=1e-4, atol=1e-5)


def test_a_write_after_the_forward_makes_the_gradient_run_it_again(session, core_session):
    """GenTF's gradient is taken at the parameters' values when it runs: a trace whose
    parameters changed since its forward must not use the forward's saved tensors."""
    f, params, _ = mlp(session, "w")
    trace = simulate(f, (XS[0],))
    assert core_session._traces.peek(trace.handle).saved  # it saved
    new_w1 = (INIT[0] * -1.5).astype(np.float32)
    runtf(f, tf.assign(params[0], new_w1))
    grad = output_grad(trace.get_retval(), YS[0])
    f.accumulate_param_gradients_only(trace, grad, 1.0)
    session.flush()
    at_new = numpy_grads([new_w1, *INIT[1:]], XS[0], grad)
    at_old = numpy_grads(INIT, XS[0], grad)
    got = runtf(f, get_param_grad_tf_var(f, params[2]))
    np.testing.assert_allclose(got, at_new[2], rtol=1e-4, atol=1e-5)
    assert not np.allclose(got, at_old[2], rtol=1e-3, atol=1e-4)


def test_forwards_with_effects_are_not_split(session, core_session):
    x = tf.placeholder(tf.float32, shape=(None, 6), name="x_noisy")
    W = tf.Variable(INIT[0], name="W_noisy")
    noisy = tf.add(tf.matmul(x, W), tf.random.normal([5]))
    f = TFFunction([W], [x], noisy, session)
    assert _function(core_session, f).saved is None
    trace = simulate(f, (XS[0],))
    f.accumulate_param_gradients_only(trace, np.ones((8, 5), np.float32), 1.0)
    session.flush()
    np.testing.assert_allclose(runtf(f, get_param_grad_tf_var(f, W)),
                               XS[0].T @ np.ones((8, 5)), rtol=1e-5)


def test_saved_tensors_count_in_the_trace_store_and_give_way_to_arguments(session, core_session):
    f, params, _ = mlp(session, "store")
    before = core_session.kept_trace_bytes()
    trace = simulate(f, (XS[0],))
    record = core_session._traces.peek(trace.handle)
    held = core_session.kept_trace_bytes() - before
    assert record.saved and record.saved_bytes > 0
    assert held == XS[0].nbytes + record.saved_bytes
    # a store with room for the arguments only keeps the trace without its saved tensors
    core_session._traces.max_bytes = XS[1].nbytes + record.saved_bytes - 1
    small = simulate(f, (XS[1],))
    record = core_session._traces.peek(small.handle)
    assert record is not None and record.saved == ()
    grad = output_grad(small.get_retval(), YS[1])
    f.accumulate_param_gradients_only(small, grad, 1.0)
    session.flush()
    want = numpy_grads(INIT, XS[1], grad)
    np.testing.assert_allclose(runtf(f, get_param_grad_tf_var(f, params[0])), want[0],
                               rtol=1e-4, atol=1e-5)


def test_saved_tensors_are_let_go_once_they_cannot_serve(session, core_session):
    """They serve only the call right after their forward's: by the one after that, the
    trace holds its arguments alone again."""
    f, params, _ = mlp(session, "stale")
    trace = simulate(f, (XS[0],))
    assert core_session._traces.peek(trace.handle).saved
    runtf(f, params[0])  # the next call: they could still have served it
    assert core_session._traces.peek(trace.handle).saved
    runtf(f, params[0])
    record = core_session._traces.peek(trace.handle)
    assert record.saved == () and record.saved_bytes == 0
    assert core_session.kept_trace_bytes() == XS[0].nbytes


def _spy(monkeypatch, fn, name):
    """Counts the calls of ``fn``'s method ``name`` (which still runs)."""
    calls = []
    real = getattr(fn, name)
    monkeypatch.setattr(fn, name, lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_argument_gradients_from_saved_tensors_are_exact(session, core_session, monkeypatch):
    """accumulate_param_gradients (argument gradients back) and choice_gradients on kept
    traces: from saved tensors, exactly what running the forward again gives."""
    from gentf import select

    saved, p_saved, _ = mlp(session, "args_saved")
    again, p_again, _ = mlp(session, "args_again")
    fn = _function(core_session, saved)
    assert fn.saved.arg_nonzero == [True]
    accumulated = _spy(monkeypatch, fn, "accumulate_saved")
    vjps = _spy(monkeypatch, fn, "vjp_saved")

    def run(f):
        out = []
        for xs, ys in zip(XS, YS):
            trace = simulate(f, (xs,))
            grad = output_grad(trace.get_retval(), ys)
            (x_grad,), _, _ = choice_gradients(trace, select(), grad)
            out.append(x_grad)
            trace = simulate(f, (xs,))
            (x_grad,) = accumulate_param_gradients(trace, grad, 0.5)
            out.append(x_grad)
        return out

    got = run(saved)
    assert len(vjps) == len(XS) and len(accumulated) == len(XS)
    core_session.save_forwards = False
    want = run(again)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(state(saved, p_saved), state(again, p_again)):
        np.testing.assert_array_equal(a, b)
    grad = output_grad(simulate(saved, (XS[0],)).get_retval(), YS[0])
    np.testing.assert_allclose(got[0], numpy_grads(INIT, XS[0], grad, with_x=True)[-1],
                               rtol=1e-4, atol=1e-5)
