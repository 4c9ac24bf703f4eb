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
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_models import free_ports, report, rounds_in_turns, start_worker, training_ops

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def start_cluster(workers: int, ps: int) -> tuple[list[subprocess.Popen[bytes]], dict[str, Any]]:
    """Starts the worker and ps tfserver processes; returns them and the cluster's jobs."""
    ports = iter(free_ports(1 + workers + ps))
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
        ops["1 device"] = training_ops(address, args.batch, True)
        cluster_procs, jobs = start_cluster(args.workers, args.ps)
        procs += cluster_procs
        chief = json.dumps({"cluster": jobs, "task": {"type": "chief", "index": 0}})
        proc, address = start_worker(["--strategy", "parameter-server"],
                                     env=dict(os.environ, TF_CONFIG=chief))
        procs.append(proc)
        ops["ps split"] = training_ops(address, args.batch, True)
        ops["ps whole"] = training_ops(address, args.batch, False)
        report(rounds_in_turns(ops, args.rounds, args.seconds), args.batch, args.json)
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
