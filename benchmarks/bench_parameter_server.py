"""Benchmark (issue 11): training-step and forward throughput of a plain worker (one device)
against ``--strategy parameter-server`` on a loopback cluster (``--workers`` worker and
``--ps`` ps tasks, each a ``python -m gentf_server.tfserver`` process, the gentf worker the
chief). Same model and operations as ``bench_distribute.py`` (MLP 784-512-10 float32; a
step is generate, accumulate_param_gradients, one RunOp of Adam and the reset); workers in
turns, several rounds, medians reported. On the cluster the net runs twice: declared
``batched`` ("ps split": each call's rows split over the worker tasks) and not ("ps whole":
each call on one worker task).

    python benchmarks/bench_parameter_server.py [--batch 1024] [--workers 2] [--ps 1]
                                                [--rounds 3] [--seconds 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_distribute import rate, start_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build(address: str, batch: int, batched: bool) -> dict[str, Callable[[], Any]]:
    """bench_distribute's model in a session on ``address``, its net declared ``batched``
    (rows split over the worker tasks) or not (each call whole on one worker task)."""
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
        net = TFFunction(params, [xs], out, sess, batched=batched)
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


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def start_cluster(workers: int, ps: int) -> tuple[list[subprocess.Popen[bytes]], dict[str, Any]]:
    """Starts the worker and ps tfserver processes; returns them and the cluster's jobs."""
    ports = iter(_free_ports(1 + workers + ps))
    jobs = {"chief": [f"127.0.0.1:{next(ports)}"],
            "worker": [f"127.0.0.1:{next(ports)}" for _ in range(workers)],
            "ps": [f"127.0.0.1:{next(ports)}" for _ in range(ps)]}
    procs = []
    for job in ("worker", "ps"):
        for index in range(len(jobs[job])):
            config = json.dumps({"cluster": jobs, "task": {"type": job, "index": index}})
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "gentf_server.tfserver", "--log-level", "WARNING"],
                env=dict(os.environ, TF_CONFIG=config)))
    for address in jobs["worker"] + jobs["ps"]:
        deadline = time.monotonic() + 180
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", int(address.rsplit(":", 1)[1]))) == 0:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"{address} did not start")
            time.sleep(0.1)
    return procs, jobs


def main() -> None:
    """Runs the benchmark and prints (and optionally writes) the medians."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--ps", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    ops: dict[str, dict[str, Callable[[], Any]]] = {}
    try:
        proc, address = start_worker([])
        procs.append(proc)
        ops["1 device"] = build(address, args.batch, True)
        cluster_procs, jobs = start_cluster(args.workers, args.ps)
        procs += cluster_procs
        chief = json.dumps({"cluster": jobs, "task": {"type": "chief", "index": 0}})
        os.environ["TF_CONFIG"] = chief
        try:
            proc, address = start_worker(["--strategy", "parameter-server"])
        finally:
            del os.environ["TF_CONFIG"]
        procs.append(proc)
        ops["ps split"] = build(address, args.batch, True)
        ops["ps whole"] = build(address, args.batch, False)
        samples: dict[str, list[float]] = {}
        for r in range(args.rounds):
            names = list(ops)
            for name in names[r % len(names):] + names[: r % len(names)]:
                for op, fn in ops[name].items():
                    samples.setdefault(f"{name} {op}/s", []).append(rate(fn, args.seconds))
        result: dict[str, float] = {k: statistics.median(v) for k, v in samples.items()}
        result["batch"] = args.batch
        result["cpus"] = os.cpu_count() or 0
        for k, v in result.items():
            print(f"{k:32s} {v:10.2f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
    finally:
        for proc in reversed(procs):  # the chief before the cluster it coordinates
            proc.terminate()
            if proc is procs[-1]:
                proc.wait(timeout=30)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
