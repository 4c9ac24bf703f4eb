"""Benchmark: how long ``import gentf`` takes (issue 9, goal 5: under 0.5 s).

Each figure is the median over ``--runs`` fresh interpreters of the time the import itself
takes (``time.perf_counter`` around it, the interpreter's own start left out), after one
run that writes the bytecode. Beside it, for scale: ``import numpy`` and ``import grpc``
(which gentf needs) and, where installed, ``import ml_dtypes`` and ``import tensorflow``
(which the client must not import; ml_dtypes, bfloat16's numpy type, is looked up at the
first bfloat16 tensor). ``--python`` measures another interpreter, such as a client-only
virtual environment's.

    python benchmarks/bench_import.py [--runs N] [--python PATH] [--modules gentf,numpy,...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

LIMIT_S = 0.5
"""Goal 5's limit on ``import gentf``."""

MODULES = ("gentf", "numpy", "grpc", "ml_dtypes", "tensorflow")

_PROBE = ("import sys, time\n"
          "t = time.perf_counter()\n"
          "import {module}\n"
          "took = time.perf_counter() - t\n"
          "print(took, 'ml_dtypes' in sys.modules)\n")


def import_seconds(python: str, module: str, runs: int) -> tuple[list[float], bool] | None:
    """Seconds ``import module`` took in each of ``runs`` fresh interpreters, and whether
    it imported ml_dtypes; None when the module is not installed there."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    times, pulled = [], False
    for k in range(runs + 1):  # the first writes the bytecode
        out = subprocess.run([python, "-c", _PROBE.format(module=module)], env=env,
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            return None
        took, ml = out.stdout.split()[-2:]
        if k:
            times.append(float(took))
            pulled = pulled or ml == "True"
    return times, pulled


def main(argv: list[str] | None = None) -> None:
    """Prints each module's median import time, gentf's against the limit."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--modules", default=",".join(MODULES), help="comma-separated")
    args = p.parse_args(argv)
    print(f"interpreter: {args.python}; median of {args.runs} fresh interpreters, seconds")
    for module in args.modules.split(","):
        got = import_seconds(args.python, module, args.runs)
        if got is None:
            print(f"  import {module:12s}        -  (not installed)")
            continue
        times, pulled = got
        med = statistics.median(times)
        line = f"  import {module:12s} {med:8.3f}  [{min(times):.3f}, {max(times):.3f}]"
        if module == "gentf":
            line += (f"  / limit {LIMIT_S:g} s: {med / LIMIT_S:.2f}"
                     f"; ml_dtypes imported: {'yes' if pulled else 'no'}")
        print(line)


if __name__ == "__main__":
    main()
