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
