"""``--jit-compile`` (issue 9): fused Batches compile with XLA, train as TensorFlow's kernels do
(to XLA's rounding), and a Batch XLA cannot compile falls back to TensorFlow's kernels."""

from __future__ import annotations

import numpy as np
from gentf import FixedStepGradientDescent, runtf, simulate, tf
from gentf.graph._apply import apply_op

from tests.worker.small_mlp import INIT, XS, YS, mlp, output_grad, state, train


def _fused_calls(core_session, f):
    return [fused for key, fused in core_session._fused.items()
            if any(step[1] == f.function_id for step in key)]


def test_xla_fused_steps_train_as_tensorflows_kernels_do(session, core_session):
    core_session.jit_compile = True
    xla, p_xla, up_xla = mlp(session, "xla")
    retvals_xla = train(xla, up_xla)
    assert all(fused.jit_compile for fused in _fused_calls(core_session, xla))
    core_session.jit_compile = False
    plain, p_plain, up_plain = mlp(session, "plain")
    retvals_plain = train(plain, up_plain)
    assert not any(fused.jit_compile for fused in _fused_calls(core_session, plain))
    for a, b in zip(retvals_xla, retvals_plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(state(xla, p_xla), state(plain, p_plain)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(runtf(xla, p_xla[0]), INIT[0])  # it trained


def test_a_batch_xla_cannot_compile_runs_on_tensorflows_kernels(session, core_session):
    """RandomGamma has no XLA kernel: the fused call fails under XLA, changes nothing,
    and runs (then and from then on) on TensorFlow's kernels, with their exact values."""
    core_session.jit_compile = True
    f, params, _ = mlp(session, "gamma")
    draw = apply_op("RandomGamma", [tf.constant([3], dtype=tf.int32), tf.constant(2.0)],
                    {"seed": 0, "seed2": 0}).outputs[0]
    update = tf.group(f.make_param_updater(FixedStepGradientDescent(0.1)).op, draw)
    retvals = []
    for xs, ys in zip(XS, YS):
        trace = simulate(f, (xs,))
        retvals.append(trace.get_retval())
        f.accumulate_param_gradients_only(trace, output_grad(trace.get_retval(), ys), 0.5)
        session.run_later(update)
    session.flush()
    fused = _fused_calls(core_session, f)
    assert fused and not any(c.jit_compile for c in fused)
    core_session.jit_compile = False
    again, p_again, up_again = mlp(session, "gamma_again")
    for a, b in zip(retvals, train(again, up_again)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(state(f, params), state(again, p_again)):
        np.testing.assert_array_equal(a, b)


def test_the_flag_reaches_the_sessions():
    from gentf_server.core import functions
    from gentf_server.main import parse_args
    from gentf_server.service.server import WorkerConfig, background_server

    assert parse_args(["--jit-compile"]).jit_compile is True
    assert parse_args([]).jit_compile is False
    assert WorkerConfig(jit_compile=True).child_config()["devices"]["jit_compile"] is True
    try:
        with background_server(WorkerConfig(port=0, isolation="none", jit_compile=True)) as server:
            from gentf.graph import Graph

            with Graph().as_default():
                sess = tf.Session(server.address)
                try:
                    f, _, up = mlp(sess, "flag")
                    assert server.sessions.get(sess.session_id).jit_compile
                    train(f, up)
                finally:
                    sess.close()
    finally:
        functions.set_jit_compile(False)
