"""CPU time per training step, process by process: where gentf's step spends what its floor
does not.

Usage: python benchmarks/bench_cpu.py [--models softmax,mlp] [--steps 600] [--rounds 5]

Wall-clock ratios (``bench_step.py``) move with whatever else a shared machine runs; CPU
time moves much less, and it says which process the extra time is in. For the
one-round-trip step of ``bench_step.py`` (``step_1rt``: generate of the Map model,
``accumulate_param_gradients_only``, ``ParamUpdate.apply()``; and ``bare_1rt``, the
TFFunction alone) this prints the CPU microseconds per step of:

- gentf's client (the process running the step: its Python and its gRPC), of which the
  calling thread's time inside the transport's calls (serialization and gRPC) and outside
  them (the modeling layer), and the same Python with every reply canned (no waiting, caches
  warm: what the client costs when nothing else runs);
- the worker's front door (``--isolation process``: gRPC, authentication, routing, relaying
  to the session process) and its session process (decoding, TensorFlow, encoding);
- the same for ``direct_1rt``: ``step_1rt`` of a session with direct calls (the worker
  started with ``--advertise-host``; the client's hot calls go to the session process's own
  door, so the front door has next to nothing to do);

against the floor's parts, measured the same way:

- the bare gRPC echo of the same bytes (``_bench_servers.py``): its client and its server;
- in-process TensorFlow's fused step (``bench_step.tf_inprocess``), whole-process CPU
  (its op threads included).

Each figure is the median over ``--rounds`` rounds of ``--steps`` steps, the contenders
taking turns; each ratio is gentf's part over the floor's part it stands against.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _bench_servers import anchor_argv, launch
from bench_step import Echo, GentfSetup, digits_784, load_and_cores, tf_inprocess

_TICK = os.sysconf("SC_CLK_TCK")

OPS = ("step_1rt", "bare_1rt", "direct_1rt")
"""The gentf contenders; ``direct_1rt`` is ``step_1rt`` on a session with direct calls."""

METHOD_OF = {"step_1rt": "step_1rt", "bare_1rt": "bare_1rt", "direct_1rt": "step_1rt"}


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system, all threads) process ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def own_cpu() -> float:
    """Seconds of CPU this process has used (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children(pid: int) -> list[int]:
    """The process ids of ``pid``'s children (Linux)."""
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


class CallClock:
    """Wraps a transport's ``call``: ``cpu`` adds up the calling thread's CPU seconds
    spent inside it."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.inner = transport.call
        self.cpu = 0.0
        transport.call = self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.cpu += time.thread_time() - start


def per_step(fn: Callable[[], object], steps: int, pids: dict[str, int]) -> dict[str, float]:
    """Microseconds per step over ``steps`` calls of ``fn``: the CPU of each process in
    ``pids`` (pid 0: this process), of this thread (``"thread"``), and wall time
    (``"wall"``)."""
    before = {k: own_cpu() if p == 0 else process_cpu(p) for k, p in pids.items()}
    thread0, wall0 = time.thread_time(), time.perf_counter()
    for _ in range(steps):
        fn()
    out = {"wall": time.perf_counter() - wall0, "thread": time.thread_time() - thread0}
    for k, p in pids.items():
        out[k] = (own_cpu() if p == 0 else process_cpu(p)) - before[k]
    return {k: v / steps * 1e6 for k, v in out.items()}


def hot_client_us(setup: GentfSetup, op: str, steps: int) -> float:
    """Thread CPU microseconds per step of ``op`` with every reply canned (one recorded)."""
    transport = setup.sess._transport
    real = transport.call
    replies: list[Any] = []

    def record(method: str, request: Any, *a: Any, **k: Any) -> Any:
        reply = real(method, request, *a, **k)
        replies.append(reply)
        return reply

    fn = getattr(setup, op)
    transport.call = record
    try:
        fn()
        if len(replies) != 1:
            raise RuntimeError(f"{op} made {len(replies)} calls; canned replies need one")
        transport.call = lambda *_, **__: replies[0]
        for _ in range(20):
            fn()
        start = time.thread_time()
        for _ in range(steps):
            fn()
        return (time.thread_time() - start) / steps * 1e6
    finally:
        transport.call = real


def run_model(model: str, steps: int, rounds: int, workdir: str) -> dict[str, Any]:
    """The figures of one model (see the module docstring)."""
    xs, ys = digits_784()
    worker = launch(f"gentf-{model}", ["-m", "gentf_server", "--port", "0", "--log-level",
                                       "WARNING", "--isolation", "process",
                                       "--warm-processes", "0", "--advertise-host",
                                       "127.0.0.1"], workdir)
    echo_server = launch(f"echo-{model}", anchor_argv("echo"), workdir)
    closers: list[Callable[[], None]] = [worker.close, echo_server.close]
    try:
        worker.wait()
        echo_server.wait()
        setups = {op: GentfSetup(worker.address, model, xs, ys, direct=op == "direct_1rt")
                  for op in OPS}
        for s in setups.values():
            closers.append(s.close)
        echo = Echo(echo_server.address)
        closers.append(echo.close)
        sizes = setups["step_1rt"].wire_bytes(setups["step_1rt"].step_1rt)
        echo_call = echo.calls(sizes[-1:])
        fused = tf_inprocess(model, xs, ys)["tf.step_fused"]
        for s in setups.values():
            s.step_1rt()  # every session open before the session process is looked up
        (session_pid,) = children(worker.proc.pid)
        clocks = {op: CallClock(s.sess._transport) for op, s in setups.items()}
        contenders: dict[str, tuple[Callable[[], object], dict[str, int]]] = {
            op: (getattr(s, METHOD_OF[op]), {"client": 0, "front": worker.proc.pid,
                                             "session": session_pid})
            for op, s in setups.items()}
        contenders["echo"] = (echo_call, {"client": 0, "server": echo_server.proc.pid})
        contenders["tf"] = (fused, {"process": 0})
        samples: dict[str, list[dict[str, float]]] = {k: [] for k in contenders}
        for fn, _ in contenders.values():
            for _ in range(30):
                fn()
        for r in range(rounds):
            order = list(contenders)
            order = order[r % len(order):] + order[:r % len(order)]
            for name in order:
                fn, pids = contenders[name]
                clock = clocks.get(name)
                if clock is not None:
                    clock.cpu = 0.0
                figures = per_step(fn, steps, pids)
                if clock is not None:
                    figures["in_calls"] = clock.cpu / steps * 1e6
                samples[name].append(figures)
        med = {name: {k: statistics.median(s[k] for s in rows) for k in rows[0]}
               for name, rows in samples.items()}
        for op, s in setups.items():
            med[op]["hot"] = hot_client_us(s, METHOD_OF[op], steps)
        return med
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):  # best effort at exit
                close()


def report(model: str, med: dict[str, Any]) -> None:
    """Prints one model's table."""
    echo, tf = med["echo"], med["tf"]
    floor = echo["client"] + echo["server"] + tf["process"]
    print(f"\n{model}: CPU us per step (median of rounds)")
    print(f"{'':34}{'step_1rt':>10}{'bare_1rt':>10}{'direct_1rt':>11}   floor part{'':>14}"
          f"{'x (1rt)':>8}{'x (direct)':>11}")
    rows = [
        ("client, whole process", "client", echo["client"], "echo client"),
        ("  calling thread in calls", "in_calls", None, ""),
        ("  calling thread outside calls", None, None, ""),
        ("  same Python, replies canned", "hot", None, ""),
        ("front door", "front", echo["server"], "echo server"),
        ("session process", "session", tf["process"], "TF fused step"),
    ]
    for label, key, anchor, anchor_name in rows:
        vals = []
        for op in OPS:
            m = med[op]
            vals.append(m["thread"] - m["in_calls"] if key is None else m[key])
        line = f"{label:34}{vals[0]:10.0f}{vals[1]:10.0f}{vals[2]:11.0f}"
        if anchor is not None:
            line += (f"   {anchor_name:14}{anchor:10.0f}{vals[0] / anchor:8.2f}"
                     f"{vals[2] / anchor:11.2f}")
        print(line)
    total = {op: med[op]["client"] + med[op]["front"] + med[op]["session"] for op in OPS}
    print(f"{'all three processes':34}{total['step_1rt']:10.0f}{total['bare_1rt']:10.0f}"
          f"{total['direct_1rt']:11.0f}   {'floor':14}{floor:10.0f}"
          f"{total['step_1rt'] / floor:8.2f}{total['direct_1rt'] / floor:11.2f}")
    wall_floor = echo["wall"] + tf["wall"]
    print(f"{'wall per step':34}{med['step_1rt']['wall']:10.0f}{med['bare_1rt']['wall']:10.0f}"
          f"{med['direct_1rt']['wall']:11.0f}   {'echo + TF':14}{wall_floor:10.0f}"
          f"{med['step_1rt']['wall'] / wall_floor:8.2f}"
          f"{med['direct_1rt']['wall'] / wall_floor:11.2f}")


def main(argv: list[str] | None = None) -> None:
    """Runs the benchmark and prints a table per model."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="softmax,mlp", help="comma-separated: softmax,mlp")
    p.add_argument("--steps", type=int, default=600, help="steps per contender and round")
    p.add_argument("--rounds", type=int, default=5, help="rounds (contenders take turns)")
    args = p.parse_args(argv)
    machine = load_and_cores()
    print(f"machine: {machine.get('cores')} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in machine.get('loadavg', []))}", flush=True)
    workdir = tempfile.mkdtemp(prefix="gentf-bench-cpu-")
    for model in [m for m in args.models.split(",") if m]:
        report(model, run_model(model, args.steps, args.rounds, workdir))


if __name__ == "__main__":
    main()
