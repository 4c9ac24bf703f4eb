"""Benchmark (issue 11, part 3): forward calls per second with and without the dynamic batcher.

Two workers (session processes, as deployed): a plain one and one started with
``--max-batch-delay-us``. On each, one session holds a small float32 MLP (64-128-10, tanh) as
a ``batched=True`` TFFunction; 1, 8 and 32 client threads call it in a closed loop (each
thread its own batch of 1 to 4 rows; every call is one ``Generate``) for a few seconds. For
the batching worker the mean callers per merged TensorFlow call is read from its metrics.

    python benchmarks/bench_batcher.py [--callers 1,8,32] [--seconds 3] [--delay-us 1000]
                                       [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.request
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_models import free_ports, mlp, start_worker, stop_all

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def metric(port: int, name: str) -> float:
    """A metric's value from the worker's ``/metrics`` page."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return float("nan")


def calls_per_second(net: Any, callers: int, seconds: float) -> float:
    """Closed-loop forward calls per second of ``callers`` threads for ``seconds``."""
    inputs = [np.random.default_rng(i).normal(size=(1 + i % 4, 64)).astype(np.float32)
              for i in range(callers)]
    for x in inputs[:2]:
        net(x)  # warm
    counts = [0] * callers
    start = threading.Barrier(callers + 1)
    stop = threading.Event()

    def loop(i: int) -> None:
        start.wait()
        n = 0
        while not stop.is_set():
            out = net(inputs[i])
            assert out.shape == (inputs[i].shape[0], 10)
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints a table (and JSON with ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--callers", default="1,8,32", help="concurrent client threads, comma-separated")
    p.add_argument("--seconds", type=float, default=3.0, help="measured seconds per point")
    p.add_argument("--delay-us", type=int, default=1000, help="--max-batch-delay-us of the "
                   "batching worker (default 1000)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    callers = [int(c) for c in args.callers.split(",")]
    (metrics_port,) = free_ports(1)
    procs = []
    results: dict[str, Any] = {"delay_us": args.delay_us, "seconds": args.seconds, "points": []}
    try:
        plain, plain_address = start_worker([])
        procs.append(plain)
        batching, batching_address = start_worker(
            ["--max-batch-delay-us", str(args.delay_us), "--metrics-port", str(metrics_port)])
        procs.append(batching)
        sessions = []
        nets = {}
        for name, address in (("off", plain_address), ("on", batching_address)):
            sess, net, _, _ = mlp(address, (64, 128, 10), 0.1)
            sessions.append(sess)
            nets[name] = net
        load = os.getloadavg()
        print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
              f"{load[2]:.2f}; MLP 64-128-10 float32, 1-4 rows per call, "
              f"--max-batch-delay-us {args.delay_us}")
        print(f"{'callers':>7}  {'off calls/s':>11}  {'on calls/s':>10}  {'on/off':>6}  "
              f"{'callers/merged call':>19}")
        for c in callers:
            off = calls_per_second(nets["off"], c, args.seconds)
            merged0 = metric(metrics_port, "gentf_batched_calls_total")
            batches0 = metric(metrics_port, "gentf_merged_batches_total")
            on = calls_per_second(nets["on"], c, args.seconds)
            merged = metric(metrics_port, "gentf_batched_calls_total") - merged0
            batches = metric(metrics_port, "gentf_merged_batches_total") - batches0
            per_batch = merged / batches if batches > 0 else 1.0
            print(f"{c:>7}  {off:>11.0f}  {on:>10.0f}  {on / off:>6.2f}  {per_batch:>19.1f}")
            results["points"].append({"callers": c, "off_calls_per_s": off,
                                      "on_calls_per_s": on, "callers_per_merged_call": per_batch,
                                      "merged_calls": merged})
        for sess in sessions:
            sess.close()
    finally:
        stop_all(procs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
