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
import os
import sys
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_models import report, rounds_in_turns, start_worker, stop_all, training_ops

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
            ops[name] = training_ops(address, args.batch)
        report(rounds_in_turns(ops, args.rounds, args.seconds), args.batch, args.json)
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
