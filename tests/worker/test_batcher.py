"""Issue 11, part 3: the dynamic batcher (``--max-batch-delay-us``).

Concurrent client threads call one ``batched=True`` function of one session on a real
worker over gRPC; the worker merges their calls into fewer TensorFlow calls (counted by the
batcher's statistics, and by the ``gentf_batched_calls_total`` metric of a worker started
from the command line), and every caller gets exactly its own results: checked against an
independent numpy reference, against a worker without batching, and, for accumulated
parameter gradients, against the sequential sum.
"""

from __future__ import annotations

import pathlib
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from gentf import (
    TFFunction,
    accumulate_param_gradients,
    choice_gradients,
    choicemap,
    generate,
    runtf,
    select,
    tf,
)
from gentf.errors import InvalidArgumentError
from gentf.graph import Graph
from parity import Model, free_ports, reference, start_worker, stop_workers

CALLERS = 32
RTOL = 1e-12
ATOL = 1e-12
"""Absolute slack for entries near zero, where float64 cancellation leaves ~1e-15."""
N_IN, N_HID, N_OUT = 4, 6, 3


@pytest.fixture(scope="module")
def batching_worker() -> Iterator[Any]:
    """An in-process worker that merges calls waiting up to 50 ms (room for the 32 threads
    of a loaded 2-core machine to arrive), with a call thread per caller."""
    from gentf_server.service.server import WorkerConfig, background_server

    with background_server(WorkerConfig(port=0, isolation="none", threads=CALLERS + 8,
                                        max_batch_delay_us=50_000)) as server:
        yield server


def _stats(server: Any) -> dict[str, int]:
    return server.supervisor.inprocess.dispatcher.batcher.stats()  # type: ignore[no-any-return]


class Mlp(Model):
    """parity's float64 MLP, 4-6-3 wide from seed 7, with ``w1_value`` (an identity of W1,
    a plain RunOp fetch)."""

    def __init__(self, address: str) -> None:
        super().__init__(address, seed=7, sizes=(N_IN, N_HID, N_OUT))

    def extra_ops(self) -> None:
        """Builds ``w1_value`` with the model."""
        self.w1_value = tf.identity(self.vars["W1"], name="W1_value")


def _inputs(caller: int) -> tuple[np.ndarray, np.ndarray]:
    """Caller ``caller``'s own rows (1 to 8 of them) and return-value gradient."""
    rng = np.random.default_rng(1000 + caller)
    rows = 1 + caller % 8
    return rng.normal(size=(rows, N_IN)), rng.normal(size=(rows, N_OUT))


def _concurrently(fn: Callable[[int], Any], callers: int = CALLERS) -> list[Any]:
    """``fn(i)`` for every caller i, each on its own thread, all released at once."""
    barrier = threading.Barrier(callers)

    def body(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(callers) as pool:
        return list(pool.map(body, range(callers)))


@pytest.fixture
def mlp(batching_worker: Any) -> Iterator[Mlp]:
    m = Mlp(batching_worker.address)
    yield m
    m.close()


def test_concurrent_generate_and_gradients_each_get_their_own_rows(
        batching_worker: Any, mlp: Mlp) -> None:
    before = _stats(batching_worker)

    def call(i: int) -> tuple[Any, ...]:
        xs, g = _inputs(i)
        out = mlp.net(xs)                            # Generate, no trace kept
        trace, weight = generate(mlp.net, (xs,), choicemap())
        (dx,), _, _ = choice_gradients(trace, select(), g)
        return out, trace.get_retval(), weight, dx

    results = _concurrently(call)
    for i, (out, retval, weight, dx) in enumerate(results):
        xs, g = _inputs(i)
        ref_out, ref_dx, _ = reference(mlp.init, xs, g)
        assert out.shape == retval.shape == (1 + i % 8, N_OUT)
        np.testing.assert_allclose(out, ref_out, rtol=RTOL)
        np.testing.assert_allclose(retval, ref_out, rtol=RTOL)
        assert weight == 0.0
        np.testing.assert_allclose(dx, ref_dx, rtol=RTOL, atol=ATOL)
    after = _stats(batching_worker)
    merged = after["batched_calls"] - before["batched_calls"]
    batches = after["batches"] - before["batches"]
    # 3 * 32 calls: some were merged, into fewer TensorFlow calls than calls
    assert merged >= 2 and 0 < batches < merged, (before, after)


def test_concurrent_accumulations_sum_exactly(batching_worker: Any, mlp: Mlp) -> None:
    runtf(mlp.net, mlp.reset)
    before = _stats(batching_worker)
    scales = [1.0, 0.5]

    def call(i: int) -> np.ndarray:
        xs, g = _inputs(i)
        trace, _ = generate(mlp.net, (xs,), choicemap())
        (dx,) = accumulate_param_gradients(trace, g, scales[i % 2])
        return dx

    dxs = _concurrently(call)
    expected = [np.zeros_like(v) for v in (mlp.init["W1"], mlp.init["b1"], mlp.init["W2"],
                                           mlp.init["b2"])]
    for i, dx in enumerate(dxs):  # the sequential reference
        xs, g = _inputs(i)
        _, ref_dx, ref_params = reference(mlp.init, xs, g)
        np.testing.assert_allclose(dx, ref_dx, rtol=RTOL, atol=ATOL)
        for total, part in zip(expected, ref_params):
            total += scales[i % 2] * part
    for acc, ref in zip(mlp.accumulators(), expected):
        np.testing.assert_allclose(acc, ref, rtol=RTOL, atol=ATOL)
    after = _stats(batching_worker)
    assert after["batches"] > before["batches"], (before, after)


def test_batching_off_gives_the_same_results(worker: Any, batching_worker: Any) -> None:
    """The shared test worker runs without batching; both answer the same to rtol 1e-12."""
    on, off = Mlp(batching_worker.address), Mlp(worker.address)
    try:
        def both(m: Mlp) -> list[tuple[np.ndarray, np.ndarray]]:
            runtf(m.net, m.reset)

            def call(i: int) -> tuple[np.ndarray, np.ndarray]:
                xs, g = _inputs(i)
                trace, _ = generate(m.net, (xs,), choicemap())
                (dx,) = accumulate_param_gradients(trace, g, 1.0)
                return trace.get_retval(), dx

            return _concurrently(call)

        for (out_on, dx_on), (out_off, dx_off) in zip(both(on), both(off)):
            np.testing.assert_allclose(out_on, out_off, rtol=RTOL)
            np.testing.assert_allclose(dx_on, dx_off, rtol=RTOL, atol=ATOL)
        for a, b in zip(on.accumulators(), off.accumulators()):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    finally:
        on.close()
        off.close()


def test_mismatched_shapes_and_bad_values_stay_with_their_caller(batching_worker: Any) -> None:
    """Rows of different widths never merge; an index out of range fails only its caller."""
    graph = Graph()
    with graph.as_default():
        sess = tf.Session(batching_worker.address, graph=graph)
        try:
            x = tf.placeholder(tf.float64, shape=(None, None), name="x")
            a = tf.Variable(np.float64(1.5), name="a")
            sums = TFFunction([a], [x], tf.multiply(tf.reduce_sum(tf.square(x), axis=1), a),
                              sess, batched=True)
            table_value = np.arange(12.0).reshape(6, 2)
            table = tf.Variable(table_value, name="table")
            idx = tf.placeholder(tf.int32, shape=(None,), name="idx")
            lookup = TFFunction([table], [idx], tf.gather(table, idx), sess, batched=True)

            def call(i: int) -> Any:
                if i % 2 == 0:
                    x_val = np.random.default_rng(i).normal(size=(1 + i % 5, 2 + i % 3))
                    return x_val, sums(x_val)
                rows = np.array([i % 6, (i + 1) % 6], dtype=np.int32)
                if i == 7:
                    rows = np.array([1, 99], dtype=np.int32)  # out of range: fails in TF
                try:
                    return rows, lookup(rows)
                except InvalidArgumentError as exc:
                    return rows, exc

            for i, (arg, got) in enumerate(_concurrently(call, 16)):
                if i % 2 == 0:
                    np.testing.assert_allclose(got, 1.5 * (arg ** 2).sum(axis=1), rtol=RTOL)
                elif i == 7:
                    assert isinstance(got, InvalidArgumentError)
                    assert "99" in str(got)
                else:
                    np.testing.assert_array_equal(got, table_value[arg])
        finally:
            sess.close()


def test_batches_in_transactions_run_beside_merged_calls(batching_worker: Any, mlp: Mlp) -> None:
    """A Batch whose reply size is unknown holds the session's lock for all its calls (a
    transaction): its Generate is never merged, and nothing deadlocks while other callers'
    calls of the same function are merged."""
    from gentf.v1 import worker_pb2
    from gentf.wire import decode_tensor, fill_tensor

    np.testing.assert_array_equal(runtf(mlp.net, mlp.w1_value), mlp.init["W1"])  # shipped
    transport = mlp.sess._transport

    def call(i: int) -> np.ndarray:
        xs, _ = _inputs(i)
        if i % 4:
            return mlp.net(xs)  # type: ignore[no-any-return]
        request = worker_pb2.BatchRequest(session_id=mlp.sess.session_id)
        gen = request.calls.add().generate
        gen.function_id = mlp.net.function_id
        fill_tensor(gen.args.add(), xs)
        request.calls.add().run_op.fetches.append(mlp.w1_value.name)  # with a fetch: not fused
        reply = transport.call("Batch", request)
        np.testing.assert_array_equal(decode_tensor(reply.results[1].run_op.fetched[0]),
                                      mlp.init["W1"])
        return decode_tensor(reply.results[0].generate.retval)  # type: ignore[no-any-return]

    for i, out in enumerate(_concurrently(call, 16)):
        np.testing.assert_allclose(out, reference(mlp.init, *_inputs(i))[0], rtol=RTOL)


# ---- the command line: a worker with session processes ----------------------------------


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


@pytest.mark.slow
def test_command_line_worker_batches_through_the_front_door(tmp_path: pathlib.Path) -> None:
    """``gentf-worker --max-batch-delay-us``: calls reach the session process concurrently
    (a connection per call in flight, a thread per connection) and are merged there."""
    (metrics_port,) = free_ports(1)
    proc, address = start_worker(tmp_path, "--max-batch-delay-us", "50000",
                                 "--metrics-port", str(metrics_port))
    try:
        m = Mlp(address)
        try:
            results = _concurrently(lambda i: m.net(_inputs(i)[0]), 16)
            for i, out in enumerate(results):
                ref, _, _ = reference(m.init, _inputs(i)[0], _inputs(i)[1])
                np.testing.assert_allclose(out, ref, rtol=RTOL)
            merged = _metric(metrics_port, "gentf_batched_calls_total")
            batches = _metric(metrics_port, "gentf_merged_batches_total")
            assert 2 <= merged <= 16 and 0 < batches < merged
        finally:
            m.close()
    finally:
        stop_workers([proc])
