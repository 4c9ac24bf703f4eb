"""Benchmark (issue 11): training-step and forward throughput of a batched MLP on a plain
worker (one device) against ``--strategy mirrored --logical-cpus N`` (N replicas).

Model: MLP 784-512-10 (tanh), float32, ``TFFunction(..., batched=True)``. A step is
``generate`` (trace kept), ``accumulate_param_gradients`` with a random output gradient,
then one RunOp of Adam's update and the accumulators' reset (three round trips). Workers run
in turns, several rounds, medians reported.

    python benchmarks/bench_distribute.py [--batch 1024] [--replicas 2] [--rounds 5]
                                          [--seconds 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def start_worker(flags: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    """A worker subprocess with ``flags``; (process, address)."""
    tmp = tempfile.mkdtemp(prefix="gentf-bench-")
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, "-m", "gentf_server", "--port", "0", "--port-file",
                             port_file, "--log-level", "WARNING", *flags])
    deadline = time.monotonic() + 180
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker {flags} did not start")
        time.sleep(0.05)
    with open(port_file) as f:
        return proc, f"127.0.0.1:{int(f.read())}"


def build(address: str, batch: int) -> dict[str, Callable[[], Any]]:
    """The model in a session on ``address``; returns the measured operations."""
    from gentf import (
        TFFunction,
        accumulate_param_gradients,
        choicemap,
        generate,
        get_param_grad_tf_var,
        reset_param_grads_tf_op,
        runtf,
        tf,
    )
    from gentf.graph import Graph

    graph = Graph()
    with graph.as_default():
        sess = tf.Session(address, graph=graph)
        rng = np.random.default_rng(0)
        xs = tf.placeholder(tf.float32, shape=(None, 784), name="xs")
        w1 = tf.Variable((rng.normal(size=(784, 512)) * 0.05).astype(np.float32), name="W1")
        b1 = tf.Variable(np.zeros(512, np.float32), name="b1")
        w2 = tf.Variable((rng.normal(size=(512, 10)) * 0.05).astype(np.float32), name="W2")
        b2 = tf.Variable(np.zeros(10, np.float32), name="b2")
        out = tf.add(tf.matmul(tf.tanh(tf.add(tf.matmul(xs, w1), b1)), w2), b2)
        params = [w1, b1, w2, b2]
        net = TFFunction(params, [xs], out, sess, batched=True)
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
    """Calls of ``fn`` per second over about ``seconds``."""
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    """Runs the benchmark and prints (and optionally writes) the medians."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    configs = {"1 device": [],
               f"mirrored x{args.replicas}": ["--strategy", "mirrored", "--logical-cpus",
                                              str(args.replicas)]}
    procs = []
    ops: dict[str, dict[str, Callable[[], Any]]] = {}
    try:
        for name, flags in configs.items():
            proc, address = start_worker(flags)
            procs.append(proc)
            ops[name] = build(address, args.batch)
        samples: dict[str, list[float]] = {}
        for r in range(args.rounds):
            names = list(ops)
            for name in names[r % len(names):] + names[: r % len(names)]:
                for op, fn in ops[name].items():
                    samples.setdefault(f"{name} {op}/s", []).append(rate(fn, args.seconds))
        result = {k: statistics.median(v) for k, v in samples.items()}
        result["batch"] = args.batch
        result["cpus"] = os.cpu_count() or 0
        for k, v in result.items():
            print(f"{k:32s} {v:10.2f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
