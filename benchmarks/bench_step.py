"""Benchmark: gentf's training step, forward call and bulk transfers against their anchors,
in one interleaved run.

Models: softmax 784x10 and MLP 784-256-10 (relu), batch 100, float32, on scikit-learn's
8x8 digits tiled to 784 features (random data without scikit-learn); nothing is downloaded.

Anchors (see issue 9):

- ``tf.*``: in-process TensorFlow: the forward call, the fused step (forward, backward and
  the SGD update in ONE tf.function) with and without XLA, and the 3-call step (forward;
  VJP into accumulators; update then reset), numpy in and out as a user's loop has it.
- ``tfremote.*``: ``tf.compat.v1.Session("grpc://...")`` against a ``tf.distribute.Server``
  in another process: the forward run, and the whole step in one ``sess.run``.
- ``echo.*``: a bare grpc.aio raw-bytes server in another process, called with exactly the
  bytes gentf's own requests and replies carry (measured from gentf's calls): one call for
  the 1-round-trip step, three for the 3-round-trip step, one for the forward call.
- floors: ``echo.step_1call + tf.step_fused`` (and the XLA variant), ``echo.step_3call +
  tf.step_3call``, ``echo.forward + tf.forward``.
- ``composed.*``: each floor's two parts run one after the other in the same loop (the echo
  call(s), then the TensorFlow call(s)), as a remote step must run them. Each part measured
  alone repeats the same code back to back and stays warm; composed, each runs after the
  other has taken the caches and branch predictors, and costs more (the ``x composed``
  column: gentf against the composed floor; the goals are against the sum).
- ``proxy.*``: through an asyncio TCP proxy adding ``--delay-ms`` (5) each way, steps/s of
  the gentf step, the echo step and TensorFlow's remote session step.

gentf contenders (workers started as ``python -m gentf_server --port 0 --port-file F``):
``gentf.*`` against ``--isolation process`` through its front door, ``gentf_direct.*``
against the same worker with direct calls (``--direct-port 0`` there, the worker's shared
direct port that hands each connection to its session's process; ``tf.Session(direct=True)``
here: no relay),
``gentf_none.*`` against ``--isolation none``, ``gentf_xla.*`` against a worker with
``--jit-compile`` (direct sessions; the fused steps compiled by XLA); ``step_1rt`` is ``generate`` of a ``@gen`` model (``net(xs) @ "net";
Map(categorical)(probs) @ "y"``), ``accumulate_param_gradients_only``, ``ParamUpdate.apply()``
(one round trip, counted); ``bare_1rt`` the same with the TFFunction alone and the output
gradient in numpy; ``loop_1rt`` the per-address model ``categorical(probs[i]) @ ("y", i)``;
``step_3rt`` generate / accumulate / update+reset as three calls; ``forward`` is ``net(xs)``.
Also bulk MiB/s (64 and 256 MiB through ``generate`` and a fetch, through the front door
and through the direct door, against bare gRPC upload and download) and the first call of a new function against a steady call.

Every contender runs in turns (round-robin, the order rotated each round), many short slices,
medians over rounds; a loaded machine slows them alike, so read the ratios. The run ends
with issue 9's goals paired by round (``_bench_goals.py``: each goal's ratio within every
round, its median, lowest and highest, and the rounds meeting the limit; in the JSON as
``goals``).

    python benchmarks/bench_step.py [--quick] [--rounds N] [--models softmax,mlp]
                                    [--only NAME,...] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _bench_goals import model_verdicts, print_verdicts
from _bench_servers import (
    ECHO_METHOD,
    SIZED_METHOD,
    Launched,
    anchor_argv,
    launch,
    sized_request,
)

BATCH = 100
FEATURES = 784
CLASSES = 10
HIDDEN = 256
STEP_SIZE = 1e-3
MIB = 1 << 20
MODELS = ("softmax", "mlp")


# ---------------------------------------------------------------------------- data, params


def digits_784(batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """The first ``batch`` digits scaled to [0, 1] and tiled to 784 features, and labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        rng = np.random.default_rng(0)
        return (rng.random((batch, FEATURES), dtype=np.float32),
                rng.integers(0, CLASSES, batch).astype(np.int64))
    d = load_digits()
    xs = np.tile(d.data[:batch] / 16.0, (1, math.ceil(FEATURES / 64)))[:, :FEATURES]
    return np.ascontiguousarray(xs, dtype=np.float32), d.target[:batch].astype(np.int64)


def init_params(model: str) -> list[np.ndarray]:
    """Initial parameter values (small Gaussian weights, zero biases), float32."""
    rng = np.random.default_rng(1)
    if model == "softmax":
        return [(0.01 * rng.standard_normal((FEATURES, CLASSES))).astype(np.float32),
                np.zeros(CLASSES, np.float32)]
    return [(0.05 * rng.standard_normal((FEATURES, HIDDEN))).astype(np.float32),
            np.zeros(HIDDEN, np.float32),
            (0.05 * rng.standard_normal((HIDDEN, CLASSES))).astype(np.float32),
            np.zeros(CLASSES, np.float32)]


def output_grad(p: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Gradient of ``sum_i log p[i, ys[i]]`` with respect to ``p``."""
    rows = np.arange(len(ys))
    g = np.zeros_like(p)
    g[rows, ys] = 1.0 / p[rows, ys]
    return g


# ---------------------------------------------------------------------------- contenders


@dataclass
class Contender:
    """One timed operation: ``fn`` runs it once; ``kind`` is "us" (per call), "rate"
    (steps/s through the proxy) or "bulk" (``nbytes`` moved per call, MiB/s)."""

    model: str
    name: str
    fn: Callable[[], object]
    kind: str = "us"
    nbytes: int = 0
    per_round: int = 1
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.model}/{self.name}"

    def median(self) -> float:
        """Median microseconds per call over rounds (nan without samples)."""
        return statistics.median(self.samples) if self.samples else float("nan")


def selected(name: str, only: list[str] | None) -> bool:
    """Whether contender ``name`` is chosen by ``--only`` (substring match; None: all)."""
    return only is None or any(o in name for o in only)


# ---------------------------------------------------------------------------- in-process TF


def tf_inprocess(model: str, xs: np.ndarray, ys: np.ndarray) -> dict[str, Callable[[], object]]:
    """The in-process TensorFlow anchors for ``model``: forward (XLA and not), fused step
    (XLA and not), 3-call step."""
    import tensorflow as tf

    def make(xla: bool) -> dict[str, Callable[[], object]]:
        params = [tf.Variable(v) for v in init_params(model)]
        accs = [tf.Variable(tf.zeros_like(v), trainable=False) for v in params]
        x_spec = tf.TensorSpec((None, FEATURES), tf.float32)

        def net(x: Any) -> Any:
            if model == "softmax":
                return tf.nn.softmax(tf.matmul(x, params[0]) + params[1])
            h = tf.nn.relu(tf.matmul(x, params[0]) + params[1])
            return tf.nn.softmax(tf.matmul(h, params[2]) + params[3])

        @tf.function(input_signature=[x_spec], jit_compile=xla)
        def forward(x: Any) -> Any:
            return net(x)

        @tf.function(input_signature=[x_spec, tf.TensorSpec((None,), tf.int64)], jit_compile=xla)
        def fused(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                probs = net(x)
                ll = tf.reduce_sum(tf.math.log(tf.gather(probs, y, batch_dims=1)))
            grads = tape.gradient(ll, params)
            for p, g in zip(params, grads):
                p.assign_add(STEP_SIZE * g)
            return probs, ll

        @tf.function(input_signature=[x_spec, tf.TensorSpec((None, CLASSES), tf.float32),
                                      tf.TensorSpec((), tf.float32)], jit_compile=xla)
        def accumulate(x: Any, g: Any, scale: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                probs = net(x)
            grads = tape.gradient(probs, [x, *params], output_gradients=g)
            for a, d in zip(accs, grads[1:]):
                a.assign_add(scale * d)
            return grads[0]

        @tf.function(jit_compile=xla)
        def update_and_reset() -> None:
            for p, a in zip(params, accs):
                p.assign_add(STEP_SIZE * a)
            for a in accs:
                a.assign(tf.zeros_like(a))

        def fwd() -> object:
            return forward(xs).numpy()

        def step_fused() -> object:
            probs, ll = fused(xs, ys)
            return probs.numpy(), float(ll)

        def step_3call() -> object:
            p = forward(xs).numpy()
            accumulate(xs, output_grad(p, ys), np.float32(1.0)).numpy()
            update_and_reset()
            return p

        if xla:
            return {"tf.forward_xla": fwd, "tf.step_fused_xla": step_fused}
        return {"tf.forward": fwd, "tf.step_fused": step_fused, "tf.step_3call": step_3call}

    return {**make(False), **make(True)}


_REMOTE_GRAPHS: list[str] = []


def tf_remote(model: str, target: str, xs: np.ndarray, ys: np.ndarray
              ) -> tuple[Callable[[], object], Callable[[], object], Callable[[], None]]:
    """TensorFlow's own remote session at ``target`` (``grpc://...``), TensorFlow on the
    client: (forward run, whole step in one ``sess.run``, close)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, (None, FEATURES), name="xs")
        y = v1.placeholder(tf.int64, (None,), name="ys")
        # Sessions on one tf.distribute.Server share variables by name: give each graph its own.
        _REMOTE_GRAPHS.append(target)
        tag = f"{model}_{len(_REMOTE_GRAPHS)}"
        params = [v1.Variable(v, use_resource=True, name=f"{tag}_p{i}")
                  for i, v in enumerate(init_params(model))]
        if model == "softmax":
            probs = tf.nn.softmax(tf.matmul(x, params[0]) + params[1])
        else:
            h = tf.nn.relu(tf.matmul(x, params[0]) + params[1])
            probs = tf.nn.softmax(tf.matmul(h, params[2]) + params[3])
        ll = tf.reduce_sum(tf.math.log(tf.gather(probs, y, batch_dims=1)))
        train = v1.train.GradientDescentOptimizer(STEP_SIZE).minimize(-ll, var_list=params)
        init = v1.global_variables_initializer()
    sess = v1.Session(target, graph=g)
    sess.run(init)

    def forward() -> object:
        return sess.run(probs, {x: xs})

    def step() -> object:
        return sess.run([probs, ll, train], {x: xs, y: ys})

    return forward, step, sess.close


# ---------------------------------------------------------------------------- gentf


class GentfSetup:
    """One gentf session on a worker, with ``model``'s network as a TFFunction and the
    Gen models around it; ``ops()`` gives the contenders' step functions."""

    def __init__(self, address: str, model: str, xs: np.ndarray, ys: np.ndarray,
                 direct: bool = False) -> None:
        from gentf import Map, TFFunction, categorical, choicemap, gen, path, tf
        from gentf.graph import Graph
        from gentf.inference import FixedStepGradientDescent, ParamUpdate

        self.xs, self.ys, self.model = xs, ys, model
        self.graph = Graph()
        with self.graph.as_default():
            self.sess = tf.Session(address, graph=self.graph, direct=direct)
            x = tf.placeholder(tf.float32, shape=(None, FEATURES), name="xs")
            self.params = [tf.Variable(v, name=f"p{i}") for i, v in enumerate(init_params(model))]
            p = self.params
            if model == "softmax":
                out = tf.nn.softmax(tf.add(tf.matmul(x, p[0]), p[1]))
            else:
                h = tf.nn.relu(tf.add(tf.matmul(x, p[0]), p[1]))
                out = tf.nn.softmax(tf.add(tf.matmul(h, p[2]), p[3]))
            self.net = TFFunction(self.params, [x], out, self.sess)
            self.update = ParamUpdate(FixedStepGradientDescent(STEP_SIZE), {self.net: self.params})
            self.updater_op = self.net.make_param_updater(FixedStepGradientDescent(STEP_SIZE)).op
        net = self.net

        @gen
        def map_model(xs: np.ndarray) -> None:
            probs = net(xs) @ "net"
            Map(categorical)(probs) @ "y"

        @gen
        def loop_model(xs: np.ndarray) -> None:
            probs = net(xs) @ "net"
            for i in range(len(xs)):
                categorical(probs[i]) @ ("y", i)

        self.map_model, self.loop_model = map_model, loop_model
        self.map_labels = choicemap({"y": {i: int(v) for i, v in enumerate(ys)}})
        self.loop_labels = choicemap({("y", i): int(v) for i, v in enumerate(ys)})
        _ = path

    def forward(self) -> object:
        """The untraced call ``net(xs)``."""
        return self.net(self.xs)

    def step_1rt(self) -> object:
        """generate(Map model), accumulate_param_gradients_only, ParamUpdate.apply()."""
        from gentf import accumulate_param_gradients_only, generate

        trace, weight = generate(self.map_model, (self.xs,), self.map_labels)
        accumulate_param_gradients_only(trace)
        self.update.apply()
        return weight

    def loop_1rt(self) -> object:
        """The same step with the per-address loop model."""
        from gentf import accumulate_param_gradients_only, generate

        trace, weight = generate(self.loop_model, (self.xs,), self.loop_labels)
        accumulate_param_gradients_only(trace)
        self.update.apply()
        return weight

    def bare_1rt(self) -> object:
        """generate(net), the output gradient in numpy, accumulate_param_gradients_only, apply."""
        from gentf import accumulate_param_gradients_only, choicemap, generate

        trace, _ = generate(self.net, (self.xs,), choicemap())
        accumulate_param_gradients_only(trace, output_grad(trace.get_retval(), self.ys), 1.0)
        self.update.apply()
        return trace

    def step_3rt(self) -> object:
        """generate(net); accumulate_param_gradients (arg grads back); update+reset: 3 calls."""
        from gentf import accumulate_param_gradients, choicemap, generate, runtf

        trace, _ = generate(self.net, (self.xs,), choicemap())
        accumulate_param_gradients(trace, output_grad(trace.get_retval(), self.ys), 1.0)
        runtf(self.net, self.updater_op)
        return trace

    def round_trips(self, fn: Callable[[], object], steps: int = 5) -> float:
        """Round trips per call of ``fn`` in steady state (after two warm-up calls)."""
        for _ in range(2):
            fn()
        calls = self.sess._transport.calls
        before = sum(calls.values())
        for _ in range(steps):
            fn()
        return (sum(calls.values()) - before) / steps

    def wire_bytes(self, fn: Callable[[], object]) -> list[tuple[str, int, int]]:
        """(method, request bytes, reply bytes) of each call one steady ``fn()`` makes."""
        fn()
        fn()
        transport = self.sess._transport
        seen: list[tuple[str, int, int]] = []
        original = transport.call

        def counting(method: str, request: Any, *a: Any, **k: Any) -> Any:
            reply = original(method, request, *a, **k)
            seen.append((method, request.ByteSize(), reply.ByteSize()))
            return reply

        transport.call = counting  # type: ignore[method-assign]
        try:
            fn()
        finally:
            del transport.call
        return seen

    def close(self) -> None:
        """Closes the session."""
        self.sess.close()


def first_call_sample(address: str, xs: np.ndarray) -> tuple[float, float]:
    """(construct us, first call us) of a new softmax TFFunction on a new session."""
    from gentf import TFFunction, tf
    from gentf.graph import Graph

    g = Graph()
    with g.as_default():
        sess = tf.Session(address, graph=g)
        try:
            t0 = time.perf_counter()
            x = tf.placeholder(tf.float32, shape=(None, FEATURES), name="xs")
            W = tf.Variable(init_params("softmax")[0], name="W")
            b = tf.Variable(np.zeros(CLASSES, np.float32), name="b")
            net = TFFunction([W, b], [x], tf.nn.softmax(tf.add(tf.matmul(x, W), b)), sess)
            sess._transport.call("GetWorkerInfo", _worker_info_request())  # flush any deferral
            t1 = time.perf_counter()
            net(xs)
            t2 = time.perf_counter()
        finally:
            sess.close()
    return (t1 - t0) * 1e6, (t2 - t1) * 1e6


def _worker_info_request() -> Any:
    from gentf.v1 import worker_pb2

    return worker_pb2.GetWorkerInfoRequest()


# ---------------------------------------------------------------------------- echo


class Echo:
    """A channel to the bare gRPC echo server (raw bytes, no (de)serialization)."""

    def __init__(self, address: str) -> None:
        import grpc

        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)])
        self.echo = self.channel.unary_unary(ECHO_METHOD)
        self.sized = self.channel.unary_unary(SIZED_METHOD)
        grpc.channel_ready_future(self.channel).result(timeout=60)

    def calls(self, sizes: list[tuple[str, int, int]]) -> Callable[[], object]:
        """One function making one ``Sized`` call per (method, request, reply) in ``sizes``."""
        requests = [(sized_request(req, rep), rep) for _, req, rep in sizes]

        def run() -> object:
            out = None
            for request, rep in requests:
                out = self.sized(request, timeout=300)
                assert len(out) == rep
            return out

        return run

    def close(self) -> None:
        """Closes the channel."""
        self.channel.close()


# ---------------------------------------------------------------------------- running


def run_interleaved(contenders: list[Contender], rounds: int, slice_s: float,
                    warmup: int) -> None:
    """Warms each contender up, sizes its slice (calls per turn) to about ``slice_s``, then
    runs ``rounds`` rounds in rotated order; appends per-call microseconds to ``samples``."""
    live = []
    for c in contenders:
        try:
            for _ in range(warmup):
                c.fn()
            t0 = time.perf_counter()
            c.fn()
            one = time.perf_counter() - t0
            c.per_round = max(1, min(200, round(slice_s / max(one, 1e-7))))
            live.append(c)
        except Exception as exc:  # noqa: BLE001 - a refused contender is reported, not fatal
            c.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    for r in range(rounds):
        shift = r % max(len(live), 1)
        for c in live[shift:] + live[:shift]:
            t0 = time.perf_counter()
            for _ in range(c.per_round):
                c.fn()
            c.samples.append((time.perf_counter() - t0) / c.per_round * 1e6)


def load_and_cores() -> dict[str, Any]:
    """The machine's load averages, core counts and versions."""
    info: dict[str, Any] = {"cores": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}
    try:
        info["usable_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        info["loadavg"] = list(os.getloadavg())
    except OSError:
        pass
    return info


@contextmanager
def started(servers: dict[str, Launched]) -> Iterator[dict[str, Launched]]:
    """Waits for every launched server; closes them all on exit."""
    with ExitStack() as stack:
        for s in servers.values():
            stack.callback(s.close)
        for s in servers.values():
            s.wait()
        yield servers


def fmt(v: float, width: int = 10, digits: int = 0) -> str:
    """``v`` right-aligned, or "-" for nan."""
    return f"{'-':>{width}}" if not math.isfinite(v) else f"{v:{width}.{digits}f}"


# ---------------------------------------------------------------------------- main


def composed(first: Callable[[], object], second: Callable[[], object]) -> Callable[[], object]:
    """One call of ``first`` then one of ``second``: a floor's parts in one loop."""
    def run() -> object:
        first()
        return second()

    return run


COMPOSED = {"forward": "composed.forward", "step_1rt": "composed.step_1rt",
            "step_3rt": "composed.step_3rt"}
"""The composed floor contender of each floor (bare and loop steps share step_1rt's)."""


FLOORS = {  # contender suffix -> (floor parts, TF remote anchor)
    "forward": (("echo.forward", "tf.forward"), "tfremote.forward"),
    "step_1rt": (("echo.step_1call", "tf.step_fused"), "tfremote.step"),
    "bare_1rt": (("echo.step_1call", "tf.step_fused"), "tfremote.step"),
    "loop_1rt": (("echo.step_1call", "tf.step_fused"), "tfremote.step"),
    "step_3rt": (("echo.step_3call", "tf.step_3call"), "tfremote.step"),
}
GENTF_OPS = ("forward", "step_1rt", "bare_1rt", "loop_1rt", "step_3rt")
XLA_OPS = ("step_1rt", "bare_1rt")
"""The contenders on a worker with ``--jit-compile`` (direct sessions): the fused steps."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--quick", action="store_true", help="few short rounds (a smoke test)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 25; --quick 3)")
    p.add_argument("--models", default="softmax,mlp", help="comma-separated: softmax,mlp")
    p.add_argument("--only", default=None,
                   help="comma-separated substrings of contender names (e.g. gentf.step_1rt,echo)")
    p.add_argument("--json", default=None, help="write the results as JSON to this path")
    p.add_argument("--delay-ms", type=float, default=5.0, help="proxy delay each way (default 5)")
    p.add_argument("--bulk-mib", default="64,256", help="bulk sizes in MiB ('' for none)")
    p.add_argument("--bulk-rounds", type=int, default=None, help="bulk rounds (default 3; quick 1)")
    p.add_argument("--first-calls", type=int, default=None,
                   help="new functions timed for the first call (default 6; quick 2)")
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    for m in args.models:
        if m not in MODELS:
            p.error(f"unknown model {m!r} (choose from {', '.join(MODELS)})")
    args.only = [o for o in args.only.split(",") if o] if args.only else None
    args.rounds = args.rounds or (3 if args.quick else 25)
    args.bulk_rounds = args.bulk_rounds or (1 if args.quick else 3)
    args.first_calls = args.first_calls if args.first_calls is not None else (2 if args.quick else 6)
    args.bulk = [int(s) for s in args.bulk_mib.split(",") if s]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark, prints the tables, returns (and optionally writes) the results."""
    args = parse_args(argv)
    only = args.only
    machine = load_and_cores()
    print(f"machine: {machine.get('cores')} cores ({machine.get('usable_cores')} usable), "
          f"load average {' '.join(f'{x:.2f}' for x in machine.get('loadavg', []))}; "
          f"python {machine['python']}", flush=True)
    xs, ys = digits_784()

    names = [f"{k}" for k in (
        "tf.forward", "tf.forward_xla", "tf.step_fused", "tf.step_fused_xla", "tf.step_3call",
        "tfremote.forward", "tfremote.step", "echo.forward", "echo.step_1call", "echo.step_3call",
        "composed.forward", "composed.step_1rt", "composed.step_3rt",
        *(f"gentf.{o}" for o in GENTF_OPS), *(f"gentf_direct.{o}" for o in GENTF_OPS),
        *(f"gentf_none.{o}" for o in GENTF_OPS if o != "loop_1rt"),
        *(f"gentf_xla.{o}" for o in XLA_OPS),
        "proxy.gentf_step_1rt", "proxy.gentf_direct_step_1rt", "proxy.echo_step_1call",
        "proxy.tfremote_step")]
    want = {n for n in names if selected(n, only)}
    bulk_names = [f"bulk.{w}_{mib}" for mib in args.bulk
                  for w in ("gentf_up", "gentf_down", "gentf_direct_up", "gentf_direct_down",
                            "grpc_up", "grpc_down")]
    want_bulk = [n for n in bulk_names if selected(n, only)]
    want_first = args.first_calls > 0 and selected("first.gentf_first_call", only)
    need = {
        "tfserver": any(n.startswith(("tfremote.", "proxy.tfremote")) for n in want),
        "echo": any(n.startswith(("echo.", "proxy.echo", "composed.")) for n in want) or
        any("grpc_" in n for n in want_bulk),
        "gentf_none": any(n.startswith("gentf_none.") for n in want),
        "gentf_xla": any(n.startswith("gentf_xla.") for n in want),
    }
    need_proxy = {"gentf": ("proxy.gentf_step_1rt" in want
                            or "proxy.gentf_direct_step_1rt" in want),
                  "echo": "proxy.echo_step_1call" in want,
                  "tfserver": "proxy.tfremote_step" in want}

    workdir = tempfile.mkdtemp(prefix="gentf-bench-")
    # no warm session process: one importing TensorFlow would take CPU from the first rounds
    worker_argv = ["-m", "gentf_server", "--port", "0", "--log-level", "WARNING",
                   "--warm-processes", "0"]
    launched: dict[str, Launched] = {
        "gentf": launch("gentf-process", [*worker_argv, "--isolation", "process",
                                          "--direct-port", "0"], workdir)}
    if need["gentf_none"]:
        launched["gentf_none"] = launch("gentf-none", [*worker_argv, "--isolation", "none"], workdir)
    if need["gentf_xla"]:
        launched["gentf_xla"] = launch("gentf-xla", [*worker_argv, "--isolation", "process",
                                                     "--direct-port", "0",
                                                     "--jit-compile"], workdir)
    if need["tfserver"]:
        launched["tfserver"] = launch("tfserver", anchor_argv("tfserver"), workdir)
    if need["echo"]:
        launched["echo"] = launch("echo", anchor_argv("echo"), workdir)
    results: dict[str, Any] = {"machine": machine, "config": {
        "batch": BATCH, "features": FEATURES, "hidden": HIDDEN, "rounds": args.rounds,
        "quick": args.quick, "delay_ms": args.delay_ms, "models": args.models, "only": only},
        "models": {}, "notes": []}
    contenders: list[Contender] = []
    closers: list[Callable[[], None]] = []
    t_start = time.perf_counter()
    with ExitStack() as stack:
        stack.enter_context(started(launched))
        for target, flag in need_proxy.items():
            if flag:
                p = launch(f"proxy-{target}", anchor_argv(
                    "proxy", "--upstream", launched[target].address, "--delay-ms",
                    str(args.delay_ms)), workdir)
                stack.callback(p.close)
                launched[f"proxy_{target}"] = p.wait()
        stack.callback(lambda: [c() for c in reversed(closers)])
        print(f"servers up in {time.perf_counter() - t_start:.1f} s (logs in {workdir})", flush=True)
        echo = Echo(launched["echo"].address) if "echo" in launched else None
        if echo is not None:
            closers.append(echo.close)
        echo_proxy = (Echo(launched["proxy_echo"].address) if "proxy_echo" in launched else None)
        if echo_proxy is not None:
            closers.append(echo_proxy.close)

        for model in args.models:
            info: dict[str, Any] = {}
            results["models"][model] = info

            def add(name: str, fn: Callable[[], object], kind: str = "us", model: str = model) -> None:
                if name in want:
                    contenders.append(Contender(model, name, fn, kind))

            # gentf on both workers; the byte counts for the echo come from the process worker.
            probe = GentfSetup(launched["gentf"].address, model, xs, ys)
            closers.append(probe.close)
            info["round_trips"] = {op: probe.round_trips(getattr(probe, op))
                                   for op in ("step_1rt", "bare_1rt", "step_3rt", "forward")}
            sizes = {op: probe.wire_bytes(getattr(probe, op))
                     for op in ("step_1rt", "step_3rt", "forward")}
            info["wire_bytes"] = {op: [list(s) for s in v] for op, v in sizes.items()}
            for prefix, worker in (("gentf", "gentf"), ("gentf_direct", "gentf"),
                                   ("gentf_none", "gentf_none"), ("gentf_xla", "gentf_xla")):
                if worker not in launched:
                    continue
                for op in GENTF_OPS:
                    if f"{prefix}.{op}" in want:
                        s = GentfSetup(launched[worker].address, model, xs, ys,
                                       direct=prefix in ("gentf_direct", "gentf_xla"))
                        closers.append(s.close)
                        add(f"{prefix}.{op}", getattr(s, op))
            echo_fns = {} if echo is None else {
                "echo.forward": echo.calls(sizes["forward"]),
                "echo.step_1call": echo.calls(sizes["step_1rt"][-1:]),
                "echo.step_3call": echo.calls(sizes["step_3rt"])}
            for name, fn in echo_fns.items():
                add(name, fn)
            if any(n.startswith(("tf.", "composed.")) for n in want):
                tf_fns = tf_inprocess(model, xs, ys)
                for name, fn in tf_fns.items():
                    add(name, fn)
                for op, name in COMPOSED.items() if echo_fns else ():
                    echo_part, tf_part = FLOORS[op][0]
                    add(name, composed(echo_fns[echo_part], tf_fns[tf_part]))
            if "tfserver" in launched:
                fwd, step, close = tf_remote(model, f"grpc://{launched['tfserver'].address}", xs, ys)
                closers.append(close)
                add("tfremote.forward", fwd)
                add("tfremote.step", step)
            if "proxy_gentf" in launched and "proxy.gentf_step_1rt" in want:
                s = GentfSetup(launched["proxy_gentf"].address, model, xs, ys)
                closers.append(s.close)
                add("proxy.gentf_step_1rt", s.step_1rt, "rate")
            if "proxy_gentf" in launched and "proxy.gentf_direct_step_1rt" in want:
                # the direct door behind a delaying proxy of its own, as a remote host is
                s = GentfSetup(launched["proxy_gentf"].address, model, xs, ys, direct=True)
                closers.append(s.close)
                transport = s.sess._transport
                p = launch(f"proxy-direct-{model}", anchor_argv(
                    "proxy", "--upstream", transport.direct_address, "--delay-ms",
                    str(args.delay_ms)), workdir)
                # closed after the session (closers run last first): its close still
                # flushes the deferred update through this proxy
                closers.insert(len(closers) - 1, p.close)
                transport.use_direct(p.wait().address, transport.direct_route)
                add("proxy.gentf_direct_step_1rt", s.step_1rt, "rate")
            if echo_proxy is not None:
                add("proxy.echo_step_1call", echo_proxy.calls(sizes["step_1rt"][-1:]), "rate")
            if "proxy_tfserver" in launched:
                _, step, close = tf_remote(model, f"grpc://{launched['proxy_tfserver'].address}",
                                           xs, ys)
                closers.append(close)
                add("proxy.tfremote_step", step, "rate")

        print(f"set up in {time.perf_counter() - t_start:.1f} s; {len(contenders)} contenders, "
              f"{args.rounds} rounds", flush=True)
        run_interleaved(contenders, args.rounds, 0.01 if args.quick else 0.04,
                        2 if args.quick else 10)

        bulk = bulk_contenders(want_bulk, launched, echo, args.bulk)
        run_interleaved(bulk, args.bulk_rounds, 0.0, 1)
        first = first_calls(launched["gentf"].address, xs, args.first_calls) if want_first else None

    report(results, contenders, bulk, first, args)
    results["goals"] = model_verdicts(results)
    print_verdicts(results["goals"])
    results["wall_s"] = time.perf_counter() - t_start
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=float)
        print(f"results written to {args.json}")
    return results


def bulk_contenders(want: list[str], launched: dict[str, Launched], echo: Echo | None,
                    sizes_mib: list[int]) -> list[Contender]:
    """The bulk contenders: gentf generate with an N MiB argument (up) and a fetch of N MiB
    (down), through the worker's front door and through the session process's direct
    door; bare gRPC raw bytes the same sizes up and down."""
    out: list[Contender] = []
    if not want:
        return out
    from gentf import TFFunction, choicemap, generate, runtf, tf
    from gentf.graph import Graph

    def session(direct: bool) -> tuple[Any, dict[int, Any]]:
        g = Graph()
        with g.as_default():
            sess = tf.Session(launched["gentf"].address, graph=g, direct=direct)
            x = tf.placeholder(tf.float32, shape=(None,), name="bulk_x")
            dummy = tf.Variable(np.zeros(1, np.float32), name="bulk_dummy")
            total = tf.add(tf.reduce_sum(x), tf.reduce_sum(dummy))
            net = TFFunction([dummy], [x], total, sess)
            fills = {mib: tf.fill([mib * MIB // 4], 1.0) for mib in sizes_mib}
        return net, fills

    doors = {"gentf": session(False)}
    if any("gentf_direct_" in n for n in want):
        doors["gentf_direct"] = session(True)
    for mib in sizes_mib:
        n = mib * MIB
        arg = np.ones(n // 4, np.float32)
        fns: dict[str, Callable[[], object]] = {}
        for door, (net, fills) in doors.items():

            def up(arg: np.ndarray = arg, net: Any = net) -> object:
                return generate(net, (arg,), choicemap())

            def down(t: Any = fills[mib], n: int = n, net: Any = net) -> object:
                v = runtf(net, t)
                assert v.nbytes == n
                return v

            fns[f"bulk.{door}_up_{mib}"] = up
            fns[f"bulk.{door}_down_{mib}"] = down
        if echo is not None:
            fns[f"bulk.grpc_up_{mib}"] = echo.calls([("up", n, 0)])
            fns[f"bulk.grpc_down_{mib}"] = echo.calls([("down", 8, n)])
        for name, fn in fns.items():
            if name in want:
                c = Contender("bulk", name, fn, "bulk")
                c.nbytes = n
                out.append(c)
    return out


def first_calls(address: str, xs: np.ndarray, n: int) -> dict[str, list[float]]:
    """Construct and first-call microseconds of ``n`` new functions, each on a new session."""
    out: dict[str, list[float]] = {"construct_us": [], "first_call_us": []}
    for _ in range(n):
        c, f = first_call_sample(address, xs)
        out["construct_us"].append(c)
        out["first_call_us"].append(f)
    return out


def report(results: dict[str, Any], contenders: list[Contender], bulk: list[Contender],
           first: dict[str, list[float]] | None, args: argparse.Namespace) -> None:
    """Prints the tables and fills ``results``."""
    for model in args.models:
        info = results["models"][model]
        by = {c.name: c for c in contenders if c.model == model}
        med = {n: c.median() for n, c in by.items()}
        info["median_us"] = med
        info["samples_us"] = {n: c.samples for n, c in by.items()}
        info["errors"] = {n: c.error for n, c in by.items() if c.error}
        nan = float("nan")

        def floor(parts: tuple[str, ...], med: dict[str, float] = med) -> float:
            return sum(med.get(p, float("nan")) for p in parts)

        floors = {"floor.step_1rt": floor(("echo.step_1call", "tf.step_fused")),
                  "floor.step_1rt_xla": floor(("echo.step_1call", "tf.step_fused_xla")),
                  "floor.step_3rt": floor(("echo.step_3call", "tf.step_3call")),
                  "floor.forward": floor(("echo.forward", "tf.forward"))}
        info["floors_us"] = floors
        dims = "784x10" if model == "softmax" else "784-256-10"
        print(f"\n{model} {dims}, batch {BATCH}, float32: median us per call over "
              f"{args.rounds} interleaved rounds")
        print(f"{'contender':26s}{'median us':>11s}{'floor us':>10s}{'x floor':>9s}"
              f"{'x floor XLA':>12s}{'x TF remote':>12s}{'x composed':>11s}")
        ratios: dict[str, dict[str, float]] = {}
        for name in [c.name for c in contenders if c.model == model and c.kind == "us"]:
            v = med[name]
            op = name.split(".", 1)[1]
            fl = fl_xla = remote = comp = nan
            if name.startswith(("gentf.", "gentf_direct.", "gentf_none.", "gentf_xla.")) \
                    and op in FLOORS:
                parts, anchor = FLOORS[op]
                fl = floor(parts)
                one_trip = op in ("step_1rt", "bare_1rt", "loop_1rt")
                if one_trip:
                    fl_xla = floors["floor.step_1rt_xla"]
                remote = med.get(anchor, nan)
                comp = med.get(COMPOSED["step_1rt" if one_trip else op], nan)
                ratios[name] = {"x_floor": v / fl, "x_floor_xla": v / fl_xla,
                                "x_tfremote": v / remote, "x_composed": v / comp}
            print(f"{name:26s}{fmt(v, 11)}{fmt(fl)}{fmt(v / fl, 9, 2)}{fmt(v / fl_xla, 12, 2)}"
                  f"{fmt(v / remote, 12, 2)}{fmt(v / comp, 11, 2)}")
        for n, v in floors.items():
            print(f"{n:26s}{fmt(v, 11)}")
        for n, e in info["errors"].items():
            print(f"{n:26s} failed: {e}")
        info["ratios"] = ratios
        derived: dict[str, float] = {}
        for a, b, label in (("gentf_direct.step_1rt", "gentf.step_1rt", "direct / front door step_1rt"),
                            ("gentf_direct.step_3rt", "gentf.step_3rt", "direct / front door step_3rt"),
                            ("gentf_direct.forward", "gentf.forward", "direct / front door forward"),
                            ("gentf_direct.step_1rt", "gentf_direct.bare_1rt", "direct Map model / bare step"),
                            ("gentf_direct.loop_1rt", "gentf_direct.bare_1rt", "direct loop model / bare step"),
                            ("gentf_xla.step_1rt", "gentf_direct.step_1rt", "XLA / direct step_1rt"),
                            ("gentf_xla.bare_1rt", "gentf_direct.bare_1rt", "XLA / direct bare_1rt"),
                            ("gentf.step_1rt", "gentf_none.step_1rt", "isolation step_1rt"),
                            ("gentf.bare_1rt", "gentf_none.bare_1rt", "isolation bare_1rt"),
                            ("gentf.step_3rt", "gentf_none.step_3rt", "isolation step_3rt"),
                            ("gentf.forward", "gentf_none.forward", "isolation forward"),
                            ("gentf.step_1rt", "gentf.bare_1rt", "Map model / bare step"),
                            ("gentf.loop_1rt", "gentf.bare_1rt", "loop model / bare step")):
            if a in med and b in med:
                derived[label] = med[a] / med[b]
        info["derived"] = derived
        if derived:
            print("  " + "; ".join(f"{k} {v:.2f}x" for k, v in derived.items()))
        rt = info.get("round_trips", {})
        print("  round trips per steady call (process worker): "
              + ", ".join(f"{k} {v:.2f}" for k, v in rt.items()))
        wb = info.get("wire_bytes", {})
        print("  gentf wire bytes (method, request, reply): "
              + "; ".join(f"{op} {[tuple(s) for s in v]}" for op, v in wb.items()))
        rates = {c.name: 1e6 / c.median() for c in contenders
                 if c.model == model and c.kind == "rate" and c.samples}
        info["proxy_steps_per_s"] = rates
        if rates:
            print(f"  through a proxy adding {args.delay_ms:g} ms each way, steps/s: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()))
            if "proxy.gentf_step_1rt" in rates and "proxy.echo_step_1call" in rates:
                r = rates["proxy.gentf_step_1rt"] / rates["proxy.echo_step_1call"]
                derived["proxy gentf / echo steps/s"] = r
                print(f"  proxy: gentf step_1rt / echo steps/s {r:.2f}x")
            if "proxy.gentf_direct_step_1rt" in rates and "proxy.echo_step_1call" in rates:
                r = rates["proxy.gentf_direct_step_1rt"] / rates["proxy.echo_step_1call"]
                derived["proxy gentf direct / echo steps/s"] = r
                print(f"  proxy: gentf direct step_1rt / echo steps/s {r:.2f}x")
        for c in contenders:
            if c.model == model and c.kind == "rate" and c.error:
                print(f"  {c.name} failed: {c.error}")
    if bulk:
        out: dict[str, Any] = {}
        print("\nbulk transfers, MiB/s (median over rounds; one call each)")
        for c in bulk:
            rate = c.nbytes / MIB / (c.median() / 1e6) if c.samples else float("nan")
            out[c.name] = {"mib_per_s": rate, "error": c.error}
            shown = f"{rate:10.0f}" if math.isfinite(rate) else f"{'-':>10s}  refused: {c.error}"
            print(f"{c.name:26s}{shown}")
        for mib in args.bulk:
            for door, label in (("gentf", "front door"), ("gentf_direct", "direct")):
                for d in ("up", "down"):
                    ours = out.get(f"bulk.{door}_{d}_{mib}")
                    bare = out.get(f"bulk.grpc_{d}_{mib}")
                    if ours and bare and math.isfinite(ours["mib_per_s"]):
                        r = ours["mib_per_s"] / bare["mib_per_s"]
                        key = "" if door == "gentf" else "direct "
                        out[f"ratio {key}{d} {mib} MiB"] = r
                        print(f"  gentf ({label}) / bare gRPC, {d} {mib} MiB: {r:.2f}x")
        results["bulk"] = out
        results["bulk_samples_us"] = {c.name: c.samples for c in bulk if c.samples}
    if first:
        steady = results["models"].get("softmax", {}).get("median_us", {}).get("gentf.forward")
        fc = statistics.median(first["first_call_us"])
        cs = statistics.median(first["construct_us"])
        results["first_call"] = {**first, "median_first_call_us": fc, "median_construct_us": cs,
                                 "steady_forward_us": steady}
        line = f"\nfirst call of a new softmax function: {fc:.0f} us (construct {cs:.0f} us)"
        if steady:
            results["first_call"]["ratio_to_steady"] = fc / steady
            line += f"; steady forward {steady:.0f} us; first / steady {fc / steady:.1f}x"
        print(line)


if __name__ == "__main__":
    main()
