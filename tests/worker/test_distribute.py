"""Issue 11: a worker with ``--strategy mirrored --logical-cpus 2`` against a plain worker.

Both workers are real subprocesses (logical devices must be configured before TensorFlow
initializes, which a test process that already ran TensorFlow cannot do). The same float64
model is built in a session on each; forward values, argument gradients, accumulated
parameter gradients and Adam updates must agree to rtol 1e-9, and with an independent numpy
reference. A batched function splits its rows over the two replicas (batch sizes 64, 63 and
1); a scalar mean loss (not row-independent) runs whole on one device.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gentf import (
    TFFunction,
    accumulate_param_gradients,
    choice_gradients,
    choicemap,
    generate,
    get_param_grad_tf_var,
    reset_param_grads_tf_op,
    runtf,
    select,
    tf,
)
from gentf.graph import Graph
from gentf.remote._transport import Transport
from gentf.v1 import worker_pb2

PY = sys.executable
RTOL = 1e-9
N_IN, N_HID, N_OUT = 5, 8, 3


def _start(tmp: pathlib.Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    port_file = tmp / "port"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("GENTF_ADDRESS", None)
    with open(tmp / "log", "w") as log:
        proc = subprocess.Popen(
            [PY, "-m", "gentf_server", "--port", "0", "--port-file", str(port_file),
             "--log-level", "INFO", *flags],
            stdout=subprocess.DEVNULL, stderr=log, text=True, env=env, cwd=str(tmp))
    deadline = time.monotonic() + 180
    while not port_file.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}: {(tmp / 'log').read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("worker did not write its port file")
        time.sleep(0.05)
    return proc, f"127.0.0.1:{int(port_file.read_text())}"


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A plain worker and a mirrored one over 2 logical CPUs (session processes, one warm)."""
    plain_dir = tmp_path_factory.mktemp("plain")
    mirrored_dir = tmp_path_factory.mktemp("mirrored")
    procs = []
    try:
        plain, plain_address = _start(plain_dir)
        procs.append(plain)
        mirrored, mirrored_address = _start(mirrored_dir, "--strategy", "mirrored",
                                            "--logical-cpus", "2")
        procs.append(mirrored)
        yield {"plain": plain_address, "mirrored": mirrored_address, "mirrored_log": mirrored_dir / "log"}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _initial() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {"W1": rng.normal(size=(N_IN, N_HID)), "b1": rng.normal(size=N_HID),
            "W2": rng.normal(size=(N_HID, N_OUT)), "b2": rng.normal(size=N_OUT)}


class Model:
    """The same float64 MLP in a session: a batched net and a scalar mean loss (unbatched)."""

    def __init__(self, address: str) -> None:
        self.graph = Graph()
        with self.graph.as_default():
            self.sess = tf.Session(address, graph=self.graph)
            init = _initial()
            self.xs = tf.placeholder(tf.float64, shape=(None, N_IN), name="xs")
            self.vars = {k: tf.Variable(v, name=k) for k, v in init.items()}
            v = self.vars
            hidden = tf.tanh(tf.add(tf.matmul(self.xs, v["W1"]), v["b1"]))
            out = tf.add(tf.matmul(hidden, v["W2"]), v["b2"])
            params = [v["W1"], v["b1"], v["W2"], v["b2"]]
            self.net = TFFunction(params, [self.xs], out, self.sess, batched=True)
            loss = tf.reduce_mean(tf.reduce_sum(tf.square(out), axis=1))
            self.loss = TFFunction(params, [self.xs], loss, self.sess)
            grads = [(tf.negative(get_param_grad_tf_var(self.net, p)), p) for p in params]
            self.adam = tf.train.AdamOptimizer(0.05).apply_gradients(grads)
            self.reset = reset_param_grads_tf_op(self.net)

    def values(self) -> dict[str, np.ndarray]:
        names = list(self.vars)
        return dict(zip(names, runtf(self.net, [self.vars[n] for n in names])))

    def accumulators(self, fn: TFFunction | None = None) -> list[np.ndarray]:
        fn = fn or self.net
        return list(runtf(fn, [get_param_grad_tf_var(fn, p) for p in self.vars.values()]))

    def close(self) -> None:
        self.sess.close()


def _reference(values: dict[str, np.ndarray], xs: np.ndarray, g: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """numpy: the net's output, d<out, g>/dxs and d<out, g>/d(W1, b1, W2, b2)."""
    h = np.tanh(xs @ values["W1"] + values["b1"])
    out = h @ values["W2"] + values["b2"]
    dz = (g @ values["W2"].T) * (1 - h ** 2)
    return out, dz @ values["W1"].T, [xs.T @ dz, dz.sum(0), h.T @ g, g.sum(0)]


@pytest.fixture(scope="module")
def models(workers: dict[str, Any]) -> Iterator[tuple[Model, Model]]:
    plain, mirrored = Model(workers["plain"]), Model(workers["mirrored"])
    yield plain, mirrored
    plain.close()
    mirrored.close()


def test_worker_lists_and_logs_its_two_replicas(workers: dict[str, Any]) -> None:
    live = Transport(workers["mirrored"])
    try:
        info = live.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest())
    finally:
        live.close()
    assert [d.rsplit("/", 1)[-1] for d in info.devices] == ["device:CPU:0", "device:CPU:1"]
    live = Transport(workers["plain"])
    try:
        assert len(live.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest()).devices) == 1
    finally:
        live.close()
    assert "strategy mirrored over" in workers["mirrored_log"].read_text()


@pytest.mark.parametrize("rows", [64, 63, 1])
def test_batched_forward_and_gradients_match_one_device(models: tuple[Model, Model], rows: int) -> None:
    plain, mirrored = models
    rng = np.random.default_rng(rows)
    xs = rng.normal(size=(rows, N_IN))
    g = rng.normal(size=(rows, N_OUT))
    values = plain.values()
    np.testing.assert_array_equal(mirrored.values()["W1"], values["W1"])
    ref_out, ref_dx, ref_params = _reference(values, xs, g)
    for m in (plain, mirrored):
        runtf(m.net, m.reset)
        out = m.net(xs)
        assert out.shape == (rows, N_OUT)
        np.testing.assert_allclose(out, ref_out, rtol=RTOL)
        trace, weight = generate(m.net, (xs,), choicemap())
        assert weight == 0.0
        (dx,), _, _ = choice_gradients(trace, select(), g)
        np.testing.assert_allclose(dx, ref_dx, rtol=RTOL)
        (dx2,) = accumulate_param_gradients(trace, g, 0.5)
        np.testing.assert_allclose(dx2, ref_dx, rtol=RTOL)
        for acc, ref in zip(m.accumulators(), ref_params):
            np.testing.assert_allclose(acc, 0.5 * ref, rtol=RTOL, atol=1e-13)
    for a, b in zip(plain.accumulators(), mirrored.accumulators()):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-13)


def test_mean_loss_runs_whole_and_matches(models: tuple[Model, Model]) -> None:
    plain, mirrored = models
    xs = np.random.default_rng(5).normal(size=(63, N_IN))
    values = plain.values()
    out, _, _ = _reference(values, xs, np.zeros((63, N_OUT)))
    ref_loss = np.mean(np.sum(out ** 2, axis=1))
    g_out = 2 * out / 63
    _, ref_dx, ref_params = _reference(values, xs, g_out)
    for m in (plain, mirrored):
        runtf(m.loss, reset_param_grads_tf_op(m.loss))
        np.testing.assert_allclose(m.loss(xs), ref_loss, rtol=RTOL)
        trace, _ = generate(m.loss, (xs,), choicemap())
        (dx,) = accumulate_param_gradients(trace, np.float64(1.0), 1.0)
        np.testing.assert_allclose(dx, ref_dx, rtol=RTOL)
        for acc, ref in zip(m.accumulators(m.loss), ref_params):
            np.testing.assert_allclose(acc, ref, rtol=RTOL, atol=1e-13)


def test_adam_updates_and_accumulated_sums_match(models: tuple[Model, Model]) -> None:
    """Several accumulations of different batch sizes sum exactly; Adam steps from them move
    the (mirrored) variables the same way, and later split calls see the new values."""
    plain, mirrored = models
    rng = np.random.default_rng(3)
    batches = [(rng.normal(size=(n, N_IN)), rng.normal(size=(n, N_OUT))) for n in (64, 63, 1, 7)]
    for step in range(3):
        expected = [np.zeros_like(v) for v in plain.values().values()]
        values = plain.values()
        for m in (plain, mirrored):
            runtf(m.net, m.reset)
            for xs, g in batches:
                trace, _ = generate(m.net, (xs,), choicemap())
                accumulate_param_gradients(trace, g, 1.0)
        for xs, g in batches:
            for e, r in zip(expected, _reference(values, xs, g)[2]):
                e += r
        for a, b, e in zip(plain.accumulators(), mirrored.accumulators(), expected):
            np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-13)
            np.testing.assert_allclose(a, e, rtol=RTOL, atol=1e-12)
        runtf(plain.net, plain.adam)
        runtf(mirrored.net, mirrored.adam)
        after_plain, after_mirrored = plain.values(), mirrored.values()
        for name in after_plain:
            assert not np.allclose(after_plain[name], values[name])  # Adam moved it
            np.testing.assert_allclose(after_mirrored[name], after_plain[name], rtol=RTOL)
        # The replicas' copies were refreshed: the split forward uses the updated values.
        xs = batches[step][0]
        np.testing.assert_allclose(mirrored.net(xs), _reference(after_plain, xs, batches[step][1])[0],
                                   rtol=RTOL)


def test_only_the_batched_function_is_split(models: tuple[Model, Model],
                                            workers: dict[str, Any]) -> None:
    log = workers["mirrored_log"].read_text()
    assert f"function {models[1].net.function_id}: batched, rows split over 2 replicas" in log
    assert f"function {models[1].loss.function_id}: batched" not in log


def test_batched_needs_a_leading_none_dimension(models: tuple[Model, Model]) -> None:
    from gentf import errors

    _, mirrored = models
    with mirrored.graph.as_default():
        fixed = tf.placeholder(tf.float64, shape=(4, N_IN), name="fixed")
        with pytest.raises(errors.InvalidArgumentError, match="leading batch dimension"):
            TFFunction([], [fixed], tf.square(fixed), mirrored.sess, batched=True)


def _gaussian_model(net: TFFunction) -> Any:
    from gentf import Map, gen, normal

    @gen
    def model(x: np.ndarray) -> None:
        mu = net(x) @ "net"
        Map(normal)(mu.reshape(-1), np.ones(mu.size)) @ "y"

    return model


def test_fused_one_round_trip_steps_match(workers: dict[str, Any]) -> None:
    """Generate of a @gen model, accumulate_param_gradients_only and ParamUpdate.apply (ADAM),
    which the worker fuses (a split forward and a split accumulation inside one TensorFlow
    call), move both workers' parameters alike."""
    from gentf import ADAM, ParamUpdate, accumulate_param_gradients_only

    rng = np.random.default_rng(9)
    xs = rng.normal(size=(63, N_IN))
    ys = rng.normal(size=(63, N_OUT))
    finals = []
    for address in (workers["plain"], workers["mirrored"]):
        m = Model(address)
        params = list(m.vars.values())
        update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), {m.net: params})
        model = _gaussian_model(m.net)
        labels = choicemap({"y": dict(enumerate(ys.reshape(-1)))})
        weights = []
        for _ in range(3):
            trace, weight = generate(model, (xs,), labels)
            weights.append(weight)
            accumulate_param_gradients_only(trace)
            update.apply()
        finals.append((weights, m.values()))
        m.close()
    (w_plain, v_plain), (w_mirrored, v_mirrored) = finals
    np.testing.assert_allclose(w_mirrored, w_plain, rtol=RTOL)
    assert w_plain[2] > w_plain[0]  # training raised the log likelihood
    for name in v_plain:
        np.testing.assert_allclose(v_mirrored[name], v_plain[name], rtol=RTOL)
