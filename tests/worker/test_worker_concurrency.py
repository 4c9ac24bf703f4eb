"""Concurrent clients accumulating into one session's accumulators lose nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from gentf import (
    FixedStepGradientDescent,
    TFFunction,
    accumulate_param_gradients,
    choice_gradients,
    get_param_grad_tf_var,
    runtf,
    select,
    simulate,
    tf,
)
from gentf.graph import Graph
from gentf.remote._transport import Transport
from gentf.v1 import worker_pb2
from gentf.wire import decode_tensor, fill_tensor

W0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
X0 = np.array([1.0, -1.0, 2.0])
THREADS = 8
CALLS = 25


def _matvec(session):
    W = tf.Variable(W0, name="W")
    x = tf.placeholder(tf.float64, shape=(3,), name="x")
    y = tf.squeeze(tf.matmul(W, tf.expand_dims(x, axis=1)), axis=1)
    return W, TFFunction([W], [x], y, session)


def _grad(thread, call):
    # integer-valued, distinct per call: every partial sum is exact in float64
    return np.array([thread + 1.0, -(call + 1.0)])


def _run_threads(fn):
    barrier = threading.Barrier(THREADS)

    def body(t):
        barrier.wait()
        return fn(t)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(body, range(THREADS)))


def _expected_sum(scale_of=lambda t, c: 1.0):
    total = np.zeros((2, 3))
    for t in range(THREADS):
        for c in range(CALLS):
            total += scale_of(t, c) * np.outer(_grad(t, c), X0)
    return total


def test_threads_sharing_one_function(session):
    W, f = _matvec(session)
    trace = simulate(f, (X0,))

    def work(t):
        out = []
        for c in range(CALLS):
            (xg,) = accumulate_param_gradients(trace, _grad(t, c), float(c % 3 + 1))
            out.append(xg)
        return out

    results = _run_threads(work)
    for t, grads in enumerate(results):
        for c, xg in enumerate(grads):
            np.testing.assert_array_equal(xg, W0.T @ _grad(t, c))
    acc = runtf(f, get_param_grad_tf_var(f, W))
    np.testing.assert_array_equal(acc, _expected_sum(lambda t, c: float(c % 3 + 1)))


def test_separate_channels_same_session(worker, session, core_session):
    """Each thread has its own gRPC channel; half send trace handles, half send arguments."""
    W, f = _matvec(session)
    trace = simulate(f, (X0,))
    acc_name = get_param_grad_tf_var(f, W).op.name

    def work(t):
        transport = Transport(worker.address)
        try:
            out = []
            for c in range(CALLS):
                req = worker_pb2.GradientRequest(
                    session_id=session.session_id, function_id=f.function_id,
                    trace_handle=trace.handle if t % 2 else 0, scale_factor=1.0)
                if not t % 2:
                    fill_tensor(req.args.add(), X0)
                fill_tensor(req.retval_grad, _grad(t, c))
                reply = transport.call("AccumulateParamGradients", req)
                out.append(decode_tensor(reply.arg_grads[0]))
            return out
        finally:
            transport.close()

    results = _run_threads(work)
    for t, grads in enumerate(results):
        for c, xg in enumerate(grads):
            np.testing.assert_array_equal(xg, W0.T @ _grad(t, c))
    np.testing.assert_array_equal(core_session.variable_value(acc_name), _expected_sum())
    np.testing.assert_array_equal(core_session.variable_value("W"), W0)


def test_concurrent_training_steps_and_reads(session):
    """Threads accumulate, one thread repeatedly applies an update that consumes the
    accumulator atomically (step + reset in one run); nothing is lost or counted twice."""
    w = tf.Variable(np.zeros(2), name="w")
    x = tf.placeholder(tf.float64, shape=(2,), name="x")
    f = TFFunction([w], [x], w * x, session)
    acc = get_param_grad_tf_var(f, w)
    updater = f.make_param_updater(FixedStepGradientDescent(1.0))
    trace = simulate(f, (np.array([1.0, 2.0]),))
    stop = threading.Event()

    def apply_loop():
        n = 0
        while not stop.is_set():
            updater.apply()
            n += 1
        return n

    with ThreadPoolExecutor(1) as pool:
        applier = pool.submit(apply_loop)

        def work(t):
            for c in range(CALLS):
                accumulate_param_gradients(trace, np.array([1.0, float(t)]))
                choice_gradients(trace, select(), np.array([1.0, 1.0]))

        _run_threads(work)
        stop.set()
        assert applier.result() > 0
    updater.apply()  # consume what is left
    # every contribution reached w exactly once: w = sum over calls of g * x
    total = np.array([THREADS * CALLS * 1.0, 2.0 * CALLS * sum(range(THREADS))])
    np.testing.assert_array_equal(runtf(f, w), total)
    np.testing.assert_array_equal(runtf(f, acc), [0.0, 0.0])


def test_independent_sessions_in_parallel(worker):
    """Sessions on one worker share nothing: each thread's accumulator has only its sum."""

    def work(t):
        g = Graph()  # the default graph is per thread; sessions are passed explicitly
        with g.as_default(), tf.Session(worker.address, graph=g) as sess:
            W, f = _matvec(sess)
            trace = simulate(f, (X0,))
            for c in range(10):
                accumulate_param_gradients(trace, _grad(t, c))
            return runtf(f, get_param_grad_tf_var(f, W))

    results = _run_threads(work)
    for t, acc in enumerate(results):
        expected = sum(np.outer(_grad(t, c), X0) for c in range(10))
        np.testing.assert_array_equal(acc, expected)
