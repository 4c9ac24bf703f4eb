"""Request tensors of 64 KiB or more are held beside their message and sent from the
caller's buffer (``gentf.wire.fill_request_tensor``): exact values, a deferred call keeps
the values it was given, and a call that is never sent lets go of what it held."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gentf import TFFunction, choicemap, generate, tf
from gentf.errors import FailedPreconditionError
from gentf.wire import _blobs
from gentf.wire._codec import HELD_TENSOR_BYTES

N = HELD_TENSOR_BYTES // 8 * 3  # 3 MiB of float64: held, then inline (under the blob threshold)


def _doubler(session: Any) -> TFFunction:
    x = tf.placeholder(tf.float64, shape=(None,), name="x")
    W = tf.Variable(np.float64(2.0), name="W")
    return TFFunction([W], [x], tf.multiply(W, x), session)


def test_a_held_argument_round_trips_exactly(session: Any) -> None:
    f = _doubler(session)
    x = np.random.default_rng(1).standard_normal(N)
    trace, _ = generate(f, (x,), choicemap())
    np.testing.assert_array_equal(trace.get_retval(), 2.0 * x)
    assert not _blobs._outgoing  # sent: nothing is held any more


def test_a_deferred_call_sends_the_values_it_was_given(session: Any) -> None:
    """A deferred RunOp with a held feed, then the caller overwrites its array in place
    before the call is sent: the worker sees the values at the time of the call."""
    v = tf.Variable(np.zeros(N), name="v")
    feed = tf.placeholder(tf.float64, shape=(N,), name="feed")
    assign = tf.assign(v, feed)
    session.run(tf.global_variables_initializer())
    values = np.arange(N, dtype=np.float64)
    expected = values.copy()
    request, _ = session._run_request(assign.op, {feed: values})
    session.defer("RunOp", request)
    values[:] = -1.0  # reused by the caller before the deferred call went out
    session.flush()
    np.testing.assert_array_equal(session.run(v), expected)


def test_a_call_never_sent_lets_go_of_what_it_held(session: Any) -> None:
    f = _doubler(session)
    generate(f, (np.ones(4),), choicemap())  # constructed while the session is open
    session.close()
    with pytest.raises(FailedPreconditionError):
        f(np.ones(N))
    assert not _blobs._outgoing


def test_a_resent_batch_still_has_its_held_tensors(tiny_trace_worker: Any, session_on: Any) -> None:
    """A deferred accumulation whose trace the worker dropped is resent with its arguments:
    its held output gradient (over 1 MiB) must travel again with the second Batch."""
    from gentf import accumulate_param_gradients_only, get_param_grad_tf_var, runtf, simulate

    rng = np.random.default_rng(5)
    reps = N // 6 + 1
    x1, x2 = rng.standard_normal(6), rng.standard_normal(6)  # 48 bytes: one trace fits
    g = rng.standard_normal(6 * reps)
    with session_on(tiny_trace_worker.address) as sess:
        x = tf.placeholder(tf.float64, shape=(6,), name="x")
        W = tf.Variable(np.float64(2.0), name="W")
        f = TFFunction([W], [x], tf.multiply(W, tf.tile(x, [reps])), sess)
        t1 = simulate(f, (x1,))
        t2 = simulate(f, (x2,))  # a 64-byte trace store: t1's arguments are dropped
        assert t1.handle and t2.handle
        accumulate_param_gradients_only(t1, g, 1.0)
        accumulate_param_gradients_only(t2, g, 1.0)
        acc = runtf(f, get_param_grad_tf_var(f, W))
        np.testing.assert_allclose(acc, g @ np.tile(x1, reps) + g @ np.tile(x2, reps),
                                   rtol=1e-12)
    assert not _blobs._outgoing
