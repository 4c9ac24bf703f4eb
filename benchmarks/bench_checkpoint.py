"""Checkpoint cost of named sessions.

``python benchmarks/bench_checkpoint.py [--sizes-mb 1 100 1024]``: time to save 1 MB, 100 MB
and 1 GB of variables with the worker's own writer (core.checkpoints) into a temporary state
directory. ``--step``: the softmax training step (the one-round-trip Map model of
bench_step.py) on three workers, interleaved: no state dir, ``--checkpoint-seconds 30`` and
``--checkpoint-seconds 0`` (named sessions on the last two), medians and ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def step_slowdown(rounds: int, steps: int) -> None:
    """Prints the training step's median with and without checkpoints, and the ratios."""
    import os
    import statistics
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _bench_servers import launch
    from bench_step import GentfSetup, digits_784
    from gentf import tf

    workdir = tempfile.mkdtemp(prefix="gentf-ckpt-bench-")
    base = ["-m", "gentf_server", "--port", "0", "--log-level", "WARNING"]
    kinds = {"no state dir": [], "--checkpoint-seconds 30": ["30"], "--checkpoint-seconds 0": ["0"]}
    launched = {}
    for i, (kind, seconds) in enumerate(kinds.items()):
        extra = (["--state-dir", os.path.join(workdir, f"s{i}"), "--checkpoint-seconds", seconds[0]]
                 if seconds else [])
        launched[kind] = launch(f"w{i}", [*base, *extra], workdir)
    xs, ys = digits_784()
    setups = {}
    original = tf.Session
    for i, (kind, worker) in enumerate(launched.items()):
        address = worker.wait().address
        name = f"bench-{i}" if kinds[kind] else None
        tf.Session = (lambda a, graph=None, _n=name, **k:  # type: ignore[misc]
                      original(a, graph=graph, name=_n, **k) if _n else original(a, graph=graph, **k))
        try:
            setups[kind] = GentfSetup(address, "softmax", xs, ys)
        finally:
            tf.Session = original  # type: ignore[misc]
    samples: dict[str, list[float]] = {k: [] for k in setups}
    for _ in range(rounds):
        for kind, setup in setups.items():
            setup.step_1rt()
            start = time.perf_counter()
            for _ in range(steps):
                setup.step_1rt()
            samples[kind].append((time.perf_counter() - start) / steps * 1e6)
    base_us = statistics.median(samples["no state dir"])
    for kind, values in samples.items():
        us = statistics.median(values)
        print(f"{kind:26s} {us:9.0f} us per step   {us / base_us:5.2f}x")
    for setup in setups.values():
        setup.close()
    for worker in launched.values():
        worker.close()


def main() -> None:
    """Prints seconds per checkpoint (best of 3) for each size, or the step slowdown."""
    p = argparse.ArgumentParser()
    p.add_argument("--sizes-mb", type=int, nargs="+", default=[1, 100, 1024])
    p.add_argument("--step", action="store_true", help="measure the training step's slowdown")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    if args.step:
        step_slowdown(args.rounds, args.steps)
        return
    import tensorflow as tf
    from gentf_server.core.checkpoints import CheckpointStore

    with tempfile.TemporaryDirectory() as root:
        store = CheckpointStore(root)
        for mb in args.sizes_mb:
            state = store.open(f"b{mb}", "bench")
            v = tf.Variable(np.random.default_rng(0).standard_normal((mb << 20) // 8))
            best = float("inf")
            for i in range(3):
                start = time.perf_counter()
                state.save({"W": v.read_value()}, [], i)
                best = min(best, time.perf_counter() - start)
            print(f"{mb:6d} MB: {best:.3f} s per checkpoint ({mb / best:.0f} MB/s)")
            state.release()


if __name__ == "__main__":
    main()
