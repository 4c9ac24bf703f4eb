"""Trace handles are released when the client's traces are garbage (batched into the next
Generate), on a real worker over loopback gRPC."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
from gentf import (
    TFFunction,
    accumulate_param_gradients,
    accumulate_param_gradients_only,
    choicemap,
    generate,
    runtf,
    tf,
)
from gentf.inference import FixedStepGradientDescent
from gentf.remote._param_update import WorkerParamUpdater


def _net(session: Any) -> tuple[TFFunction, Any]:
    x = tf.placeholder(tf.float64, shape=(None, 3), name="x")
    W = tf.Variable(np.ones((3, 2)), name="W")
    return TFFunction([W], [x], tf.matmul(x, W), session), W


def test_garbage_traces_are_released_with_the_next_generate(session: Any,
                                                            core_session: Any) -> None:
    net, _ = _net(session)
    xs = np.arange(6.0).reshape(2, 3)
    base = len(core_session._traces)
    traces = [generate(net, (xs,), choicemap())[0] for _ in range(5)]
    assert len(core_session._traces) == base + 5
    handles = [t.handle for t in traces]
    del traces
    gc.collect()
    assert sorted(session.take_released_traces()) == sorted(handles)
    for h in handles:  # put them back: the next Generate carries them
        session.release_trace(h)
    keep, _ = generate(net, (xs,), choicemap())
    assert len(core_session._traces) == base + 1
    assert session.take_released_traces() == []
    # the kept trace still works by handle
    (g,) = accumulate_param_gradients(keep, np.ones((2, 2)), 1.0)
    assert np.allclose(g, np.ones((2, 2)) @ np.ones((3, 2)).T)


def test_training_loop_holds_a_bounded_number_of_traces(session: Any,
                                                        core_session: Any) -> None:
    net, W = _net(session)
    updater = WorkerParamUpdater(net, FixedStepGradientDescent(0.1), [W])
    xs = np.ones((4, 3))
    base = len(core_session._traces)
    for _ in range(30):
        trace, _ = generate(net, (xs,), choicemap())
        accumulate_param_gradients_only(trace, np.ones((4, 2)), 1.0)
        updater.apply()
        del trace
    # each step's trace is released by the following step's Generate; the deferred
    # gradient call that used it ran before (calls run in order)
    assert len(core_session._traces) - base <= 2
    # 30 steps of 0.1 * (sum over the 4 rows of x) = 0.4 each
    assert np.allclose(runtf(net, W), 1.0 + 30 * 0.4)


def test_a_trace_freed_while_its_session_holds_the_pending_lock_is_released(
        session: Any) -> None:
    """A trace can become garbage while this thread holds the session's pending lock (a
    collection started by an allocation there); its release must not wait for that lock."""
    import threading

    net, _ = _net(session)
    trace, _ = generate(net, (np.ones((2, 3)),), choicemap())
    handle = trace.handle
    assert handle
    holder: list[Any] = [trace]
    del trace

    def free_under_the_lock() -> None:
        with session._pending_lock:
            holder.clear()  # the trace's last reference: released here, in this thread

    t = threading.Thread(target=free_under_the_lock, daemon=True)
    t.start()
    t.join(timeout=10)
    assert not t.is_alive(), "the release waited for a lock its own thread held"
    assert handle in session.take_released_traces()
