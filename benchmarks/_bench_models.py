"""Shared parts of ``bench_distribute.py``, ``bench_parameter_server.py`` and
``bench_batcher.py``: a worker subprocess launcher, the float32 MLP they time, the
training step and forward they measure, and the rounds-in-turns timing with its report.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = ["free_ports", "mlp", "rate", "report", "rounds_in_turns", "start_worker",
           "stop_all", "training_ops"]


def start_worker(flags: list[str], env: dict[str, str] | None = None
                 ) -> tuple[subprocess.Popen[bytes], str]:
    """A worker subprocess (``python -m gentf_server --port 0 --log-level WARNING *flags``,
    environment ``env`` or this process's); (process, address) once it wrote its port.
    Exits the benchmark (SystemExit) if the worker ends first or takes over 180 s."""
    tmp = tempfile.mkdtemp(prefix="gentf-bench-")
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, "-m", "gentf_server", "--port", "0", "--port-file",
                             port_file, "--log-level", "WARNING", *flags], env=env)
    deadline = time.monotonic() + 180
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker {flags} did not start")
        time.sleep(0.05)
    with open(port_file) as f:
        return proc, f"127.0.0.1:{int(f.read())}"


def stop_all(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every process, then waits up to 30 s for each (SIGKILL if it does not end)."""
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


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


def mlp(address: str, sizes: tuple[int, int, int], scale: float, batched: bool = True
        ) -> tuple[Any, Any, list[Any], np.random.Generator]:
    """A float32 MLP ``tanh(xs W1 + b1) W2 + b2`` of ``sizes`` (in, hidden, out) in a new
    session on ``address``: W1, W2 normal times ``scale`` from ``default_rng(0)``, zero
    biases. Returns (session, the TFFunction, its params W1 b1 W2 b2, the generator, for
    drawing inputs after the weights)."""
    from gentf import TFFunction, tf
    from gentf.graph import Graph

    n_in, n_hid, n_out = sizes
    graph = Graph()
    with graph.as_default():
        sess = tf.Session(address, graph=graph)
        rng = np.random.default_rng(0)
        xs = tf.placeholder(tf.float32, shape=(None, n_in), name="xs")
        w1 = tf.Variable((rng.normal(size=(n_in, n_hid)) * scale).astype(np.float32), name="W1")
        b1 = tf.Variable(np.zeros(n_hid, np.float32), name="b1")
        w2 = tf.Variable((rng.normal(size=(n_hid, n_out)) * scale).astype(np.float32), name="W2")
        b2 = tf.Variable(np.zeros(n_out, np.float32), name="b2")
        out = tf.add(tf.matmul(tf.tanh(tf.add(tf.matmul(xs, w1), b1)), w2), b2)
        params = [w1, b1, w2, b2]
        net = TFFunction(params, [xs], out, sess, batched=batched)
    return sess, net, params, rng


def training_ops(address: str, batch: int, batched: bool = True) -> dict[str, Callable[[], Any]]:
    """The MLP 784-512-10 (weights scaled 0.05) in a session on ``address``, its net declared
    ``batched`` or not; returns the measured operations on ``batch`` rows: ``step``
    (generate, accumulate_param_gradients, one RunOp of Adam and the accumulators' reset:
    three round trips) and ``forward``."""
    from gentf import (
        accumulate_param_gradients,
        choicemap,
        generate,
        get_param_grad_tf_var,
        reset_param_grads_tf_op,
        runtf,
        tf,
    )

    sess, net, params, rng = mlp(address, (784, 512, 10), 0.05, batched)
    with sess.graph.as_default():
        adam = tf.train.AdamOptimizer(1e-3).apply_gradients(
            [(tf.negative(get_param_grad_tf_var(net, p)), p) for p in params])
        reset = reset_param_grads_tf_op(net)
    x = rng.normal(size=(batch, 784)).astype(np.float32)
    g = rng.normal(size=(batch, 10)).astype(np.float32)

    def step() -> None:
        trace, _ = generate(net, (x,), choicemap())
        accumulate_param_gradients(trace, g, 1.0)
        runtf(net, [adam, reset])

    def forward() -> None:
        net(x)

    return {"step": step, "forward": forward}


def rate(fn: Callable[[], Any], seconds: float) -> float:
    """Calls of ``fn`` per second over about ``seconds`` (after one untimed call)."""
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def rounds_in_turns(ops: dict[str, dict[str, Callable[[], Any]]], rounds: int,
                    seconds: float) -> dict[str, float]:
    """``rounds`` rounds in which every configuration's operations are timed with
    :func:`rate` (the configuration first in turn rotates each round); the median rate of
    each, keyed ``"<configuration> <operation>/s"``."""
    samples: dict[str, list[float]] = {}
    for r in range(rounds):
        names = list(ops)
        for name in names[r % len(names):] + names[: r % len(names)]:
            for op, fn in ops[name].items():
                samples.setdefault(f"{name} {op}/s", []).append(rate(fn, seconds))
    return {k: statistics.median(v) for k, v in samples.items()}


def report(result: dict[str, float], batch: int, json_path: str | None) -> None:
    """Adds ``batch`` and the machine's CPU count to ``result``, prints every entry, and
    writes them as JSON to ``json_path`` when given."""
    result["batch"] = batch
    result["cpus"] = os.cpu_count() or 0
    for k, v in result.items():
        print(f"{k:32s} {v:10.2f}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=1)
