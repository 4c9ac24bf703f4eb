"""Shared parts of the tests that compare a distributed or batching worker with a plain one.

Used by ``test_distribute.py`` (mirrored replicas), ``test_parameter_server.py`` (a loopback
parameter-server cluster) and ``test_batcher.py`` (the dynamic batcher): the float64 MLP
built in a session (:class:`Model`), its independent numpy reference (:func:`reference`), a
worker subprocess launcher, and the checks that two models agree with each other and with
numpy. Every check asserts against numpy as well as against the plain model, so a helper
never passes merely because both workers are wrong alike.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
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

RTOL = 1e-9
"""Relative tolerance between a distributed worker, the plain one and numpy."""
N_IN, N_HID, N_OUT = 5, 8, 3
"""The default MLP's input, hidden and output widths."""


def initial_values(seed: int = 11, sizes: tuple[int, int, int] = (N_IN, N_HID, N_OUT)
                   ) -> dict[str, np.ndarray]:
    """Initial values of W1, b1, W2, b2 for an MLP of ``sizes`` (in, hidden, out), drawn from
    ``numpy.random.default_rng(seed)`` in that order."""
    n_in, n_hid, n_out = sizes
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(n_in, n_hid)), "b1": rng.normal(size=n_hid),
            "W2": rng.normal(size=(n_hid, n_out)), "b2": rng.normal(size=n_out)}


def reference(values: dict[str, np.ndarray], xs: np.ndarray, g: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """numpy: the net's output, d<out, g>/dxs and d<out, g>/d(W1, b1, W2, b2)."""
    h = np.tanh(xs @ values["W1"] + values["b1"])
    out = h @ values["W2"] + values["b2"]
    dz = (g @ values["W2"].T) * (1 - h ** 2)
    return out, dz @ values["W1"].T, [xs.T @ dz, dz.sum(0), h.T @ g, g.sum(0)]


class Model:
    """The float64 MLP ``tanh(xs W1 + b1) W2 + b2`` in a session of its own on ``address``.

    ``net`` is the batched TFFunction, ``loss`` a scalar mean of squares (not row
    independent, so never split), ``adam`` one Adam step (rate 0.05) from the negated
    accumulators of ``net``, ``reset`` zeroes those accumulators; ``init`` holds the initial
    values and ``vars``/``params`` the variables (W1, b1, W2, b2). ``extra_ops`` is called in
    the graph before the session first runs, for a test's own ops.
    """

    def __init__(self, address: str, name: str | None = None, *, seed: int = 11,
                 sizes: tuple[int, int, int] = (N_IN, N_HID, N_OUT)) -> None:
        self.graph = Graph()
        with self.graph.as_default():
            self.sess = tf.Session(address, graph=self.graph, name=name)
            self.init = initial_values(seed, sizes)
            self.xs = tf.placeholder(tf.float64, shape=(None, sizes[0]), name="xs")
            self.vars = {k: tf.Variable(v, name=k) for k, v in self.init.items()}
            v = self.vars
            hidden = tf.tanh(tf.add(tf.matmul(self.xs, v["W1"]), v["b1"]))
            self.out = tf.add(tf.matmul(hidden, v["W2"]), v["b2"])
            self.params = [v["W1"], v["b1"], v["W2"], v["b2"]]
            self.net = TFFunction(self.params, [self.xs], self.out, self.sess, batched=True)
            loss = tf.reduce_mean(tf.reduce_sum(tf.square(self.out), axis=1))
            self.loss = TFFunction(self.params, [self.xs], loss, self.sess)
            grads = [(tf.negative(get_param_grad_tf_var(self.net, p)), p) for p in self.params]
            self.adam = tf.train.AdamOptimizer(0.05).apply_gradients(grads)
            self.reset = reset_param_grads_tf_op(self.net)
            self.extra_ops()

    def extra_ops(self) -> None:
        """Hook for a subclass: more ops in the same graph, built with the model."""

    def values(self) -> dict[str, np.ndarray]:
        """The variables' current values, by name."""
        names = list(self.vars)
        return dict(zip(names, runtf(self.net, [self.vars[n] for n in names])))

    def accumulators(self, fn: TFFunction | None = None) -> list[np.ndarray]:
        """The parameter-gradient accumulators of ``fn`` (default ``net``), W1, b1, W2, b2."""
        fn = fn or self.net
        return list(runtf(fn, [get_param_grad_tf_var(fn, p) for p in self.params]))

    def close(self) -> None:
        """Closes the session."""
        self.sess.close()


def check_forward_and_gradients(plain: Model, other: Model, rows: int) -> None:
    """For ``rows`` random rows: both models hold the same values; each one's forward,
    argument gradients (choice_gradients and accumulate_param_gradients) and accumulated
    parameter gradients (scale 0.5) equal numpy's; the two accumulators agree."""
    rng = np.random.default_rng(rows)
    xs = rng.normal(size=(rows, N_IN))
    g = rng.normal(size=(rows, N_OUT))
    values = plain.values()
    for name, value in other.values().items():
        np.testing.assert_array_equal(value, values[name])
    ref_out, ref_dx, ref_params = reference(values, xs, g)
    for m in (plain, other):
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
    for a, b in zip(plain.accumulators(), other.accumulators()):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-13)


def check_mean_loss(plain: Model, other: Model) -> None:
    """The scalar mean loss of 63 rows, its argument gradient and its accumulated parameter
    gradients equal numpy's on both models."""
    xs = np.random.default_rng(5).normal(size=(63, N_IN))
    values = plain.values()
    out, _, _ = reference(values, xs, np.zeros((63, N_OUT)))
    ref_loss = np.mean(np.sum(out ** 2, axis=1))
    _, ref_dx, ref_params = reference(values, xs, 2 * out / 63)
    for m in (plain, other):
        runtf(m.loss, reset_param_grads_tf_op(m.loss))
        np.testing.assert_allclose(m.loss(xs), ref_loss, rtol=RTOL)
        trace, _ = generate(m.loss, (xs,), choicemap())
        (dx,) = accumulate_param_gradients(trace, np.float64(1.0), 1.0)
        np.testing.assert_allclose(dx, ref_dx, rtol=RTOL)
        for acc, ref in zip(m.accumulators(m.loss), ref_params):
            np.testing.assert_allclose(acc, ref, rtol=RTOL, atol=1e-13)


def check_adam_and_sums(plain: Model, other: Model) -> None:
    """Three rounds: accumulations of batch sizes 64, 63, 1 and 7 sum to numpy's total on
    both models; an Adam step moves every variable, and both models alike; then ``other``'s
    forward uses the updated values (whatever holds them: replicas refreshed after the
    update, or variables read from ps hosts)."""
    rng = np.random.default_rng(3)
    batches = [(rng.normal(size=(n, N_IN)), rng.normal(size=(n, N_OUT))) for n in (64, 63, 1, 7)]
    for step in range(3):
        expected = [np.zeros_like(v) for v in plain.values().values()]
        values = plain.values()
        for m in (plain, other):
            runtf(m.net, m.reset)
            for xs, g in batches:
                trace, _ = generate(m.net, (xs,), choicemap())
                accumulate_param_gradients(trace, g, 1.0)
        for xs, g in batches:
            for e, r in zip(expected, reference(values, xs, g)[2]):
                e += r
        for a, b, e in zip(plain.accumulators(), other.accumulators(), expected):
            np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-13)
            np.testing.assert_allclose(a, e, rtol=RTOL, atol=1e-12)
        runtf(plain.net, plain.adam)
        runtf(other.net, other.adam)
        after_plain, after_other = plain.values(), other.values()
        for name in after_plain:
            assert not np.allclose(after_plain[name], values[name])  # Adam moved it
            np.testing.assert_allclose(after_other[name], after_plain[name], rtol=RTOL)
        xs = batches[step][0]
        np.testing.assert_allclose(other.net(xs), reference(after_plain, xs, batches[step][1])[0],
                                   rtol=RTOL)


def gaussian_model(net: TFFunction) -> Any:
    """A @gen model: ``y`` ~ independent unit normals around ``net(x)``, flattened."""
    from gentf import Map, gen, normal

    @gen
    def model(x: np.ndarray) -> None:
        mu = net(x) @ "net"
        Map(normal)(mu.reshape(-1), np.ones(mu.size)) @ "y"

    return model


def fused_training(m: Model, steps: int = 3) -> list[float]:
    """``steps`` rounds of generate (a @gen model of ``m.net`` with 63 fixed labelled rows),
    accumulate_param_gradients_only and an ADAM(0.05, 0.9, 0.999, 1e-8) ParamUpdate, which
    the worker fuses; the generate weights, in order."""
    from gentf import ADAM, ParamUpdate, accumulate_param_gradients_only

    rng = np.random.default_rng(9)
    xs = rng.normal(size=(63, N_IN))
    ys = rng.normal(size=(63, N_OUT))
    update = ParamUpdate(ADAM(0.05, 0.9, 0.999, 1e-8), {m.net: list(m.params)})
    model = gaussian_model(m.net)
    labels = choicemap({"y": dict(enumerate(ys.reshape(-1)))})
    weights = []
    for _ in range(steps):
        trace, weight = generate(model, (xs,), labels)
        weights.append(weight)
        accumulate_param_gradients_only(trace)
        update.apply()
    return weights


def check_trained_alike(plain: tuple[list[float], dict[str, np.ndarray]],
                        other: tuple[list[float], dict[str, np.ndarray]]) -> None:
    """Two (weights, final values) of :func:`fused_training`: equal to RTOL, and training
    raised the log likelihood."""
    (w_plain, v_plain), (w_other, v_other) = plain, other
    np.testing.assert_allclose(w_other, w_plain, rtol=RTOL)
    assert w_plain[2] > w_plain[0]  # training raised the log likelihood
    for name in v_plain:
        np.testing.assert_allclose(v_other[name], v_plain[name], rtol=RTOL)


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback TCP ports that were free a moment ago."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def start_worker(tmp: pathlib.Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m gentf_server --port 0 *flags`` in ``tmp`` (stderr to ``tmp/log``, no
    GENTF_ADDRESS); (process, address) once it wrote its port file. Raises AssertionError
    (with the log) if it exits first or takes over 180 s."""
    port_file = tmp / "port"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("GENTF_ADDRESS", None)
    with open(tmp / "log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gentf_server", "--port", "0", "--port-file", str(port_file),
             *flags],
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


def stop_workers(procs: Iterable[subprocess.Popen[Any]]) -> None:
    """SIGTERM to every process, then waits up to 30 s for each (SIGKILL if it does not end)."""
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
