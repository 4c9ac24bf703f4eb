"""Checkpoint cost of named sessions: time to save 1 MB, 100 MB and 1 GB of variables
(``python benchmarks/bench_checkpoint.py [--sizes-mb 1 100 1024]``), written with the
worker's own writer (core.checkpoints) into a temporary state directory."""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def main() -> None:
    """Prints seconds per checkpoint (best of 3) for each size."""
    p = argparse.ArgumentParser()
    p.add_argument("--sizes-mb", type=int, nargs="+", default=[1, 100, 1024])
    args = p.parse_args()
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
