"""Benchmark: a Gen training step of the digits softmax model, three ways, interleaved.

- ``bare``: the TFFunction alone: ``generate(net)``, the categorical log-likelihood's
  output gradient in numpy, ``accumulate_param_gradients_only``, ``ParamUpdate.apply()``.
- ``map``:  ``@gen`` model ``probs = net(xs) @ "net"; Map(categorical)(probs) @ "y"``.
- ``loop``: ``@gen`` model ``probs = net(xs) @ "net"; categorical(probs[i]) @ ("y", i)``
  for each row.

Each step is one round trip to the worker. The variants run in turns (``--rounds`` rounds
of ``--steps`` steps each) so a busy machine slows them alike; the medians over rounds and
their ratios to ``bare`` are printed. Also prints the client-side time alone (a numpy
network standing in for the worker), where only the modeling layer's work counts.

    python benchmarks/bench_gen_step.py [--batch 100] [--rounds 15] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def digits(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``batch`` sklearn digits (scaled to [0, 1]) and labels; random data without
    scikit-learn."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        rng = np.random.default_rng(0)
        return rng.random((batch, 64)).astype(np.float32), rng.integers(0, 10, batch)
    d = load_digits()
    return (d.data[:batch] / 16.0).astype(np.float32), d.target[:batch].astype(np.int64)


def interleaved(variants: dict[str, Callable[[], None]], rounds: int, steps: int) -> dict[str, float]:
    """Median over rounds of the mean microseconds per step of each variant."""
    for fn in variants.values():
        for _ in range(5):
            fn()
    per: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            per[name].append((time.perf_counter() - t0) / steps * 1e6)
    return {k: statistics.median(v) for k, v in per.items()}


def models(net: Any) -> tuple[Any, Any]:
    """The Map model and the per-address loop model around ``net``."""
    from gentf import Map, categorical, gen

    @gen
    def map_model(xs: np.ndarray) -> None:
        probs = net(xs) @ "net"
        Map(categorical)(probs) @ "y"

    @gen
    def loop_model(xs: np.ndarray) -> None:
        probs = net(xs) @ "net"
        for i in range(len(xs)):
            categorical(probs[i]) @ ("y", i)

    return map_model, loop_model


def steps_for(net: Any, update: Callable[[], None], xs: np.ndarray,
              ys: np.ndarray) -> dict[str, Callable[[], None]]:
    """The three step functions for a network ``net`` and its update."""
    from gentf import accumulate_param_gradients_only, choicemap, generate, path

    map_model, loop_model = models(net)
    map_labels = choicemap({path("y", i): int(y) for i, y in enumerate(ys)})
    loop_labels = choicemap({("y", i): int(y) for i, y in enumerate(ys)})
    rows = np.arange(len(ys))

    def bare() -> None:
        trace, _ = generate(net, (xs,), choicemap())
        p = trace.get_retval()
        g = np.zeros_like(p)
        g[rows, ys] = 1.0 / p[rows, ys]
        accumulate_param_gradients_only(trace, g, 1.0)
        update()

    def with_model(model: Any, labels: Any) -> Callable[[], None]:
        def step() -> None:
            trace, _ = generate(model, (xs,), labels)
            accumulate_param_gradients_only(trace)
            update()
        return step

    return {"bare": bare, "map": with_model(map_model, map_labels),
            "loop": with_model(loop_model, loop_labels)}


class _NumpySoftmax:
    """A client-side stand-in for the network, to time the modeling layer alone."""

    @staticmethod
    def make(d: int, k: int) -> Any:
        from gentf.gfi import (
            ChoiceMap,
            EmptyChoiceMap,
            GenerativeFunction,
            Trace,
            UnknownChange,
        )

        class T(Trace):
            def __init__(self, fn: Any, args: Any, p: np.ndarray) -> None:
                self.fn, self.args, self.p = fn, args, p

            def get_gen_fn(self) -> Any:
                return self.fn

            def get_args(self) -> Any:
                return self.args

            def get_retval(self) -> Any:
                return self.p

            def get_choices(self) -> ChoiceMap:
                return EmptyChoiceMap()

            def get_score(self) -> float:
                return 0.0

        class Net(GenerativeFunction):
            W = np.zeros((d, k))

            def _run(self, args: Any) -> T:
                z = args[0] @ self.W
                e = np.exp(z - z.max(1, keepdims=True))
                return T(self, args, (e / e.sum(1, keepdims=True)).astype(np.float32))

            def simulate(self, args: Any) -> T:
                return self._run(args)

            def generate(self, args: Any, constraints: Any) -> Any:
                return self._run(args), 0.0

            def update(self, *a: Any) -> Any:
                return self._run(a[1]), 0.0, UnknownChange, EmptyChoiceMap()

            def regenerate(self, *a: Any) -> Any:
                return self._run(a[1]), 0.0, UnknownChange

            def project(self, trace: Any, selection: Any) -> float:
                return 0.0

            def choice_gradients(self, trace: Any, selection: Any, g: Any) -> Any:
                return (np.zeros_like(trace.args[0]),), EmptyChoiceMap(), EmptyChoiceMap()

            def accumulate_param_gradients(self, trace: Any, g: Any, scale: float) -> Any:
                p = trace.p.astype(np.float64)
                g = np.asarray(g, np.float64)
                dz = p * (g - (g * p).sum(1, keepdims=True))
                self.W = self.W + 0.01 * scale * (trace.args[0].T @ dz)
                return ((dz @ self.W.T).astype(np.float32),)

            def has_argument_grads(self) -> tuple[bool, ...]:
                return (True,)

            def accepts_output_grad(self) -> bool:
                return True

        return Net()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--address", default=None, help="worker host:port (default: embedded)")
    args = parser.parse_args()
    xs, ys = digits(args.batch)

    local = _NumpySoftmax.make(64, 10)
    client = interleaved(steps_for(local, lambda: None, xs, ys), args.rounds, args.steps)

    from gentf import TFFunction, tf
    from gentf.inference import FixedStepGradientDescent, ParamUpdate

    sess = tf.Session(args.address)
    x = tf.placeholder(tf.float32, shape=(None, 64), name="xs")
    W = tf.Variable(np.zeros((64, 10), np.float32), name="W")
    b = tf.Variable(np.zeros(10, np.float32), name="b")
    net = TFFunction([W, b], [x], tf.nn.softmax(tf.add(tf.matmul(x, W), b)), sess)
    updater = ParamUpdate(FixedStepGradientDescent(1e-3), {net: [W, b]})
    remote = interleaved(steps_for(net, updater.apply, xs, ys), args.rounds, args.steps)
    sess.close()

    print(f"digits softmax 64x10, batch {args.batch}: microseconds per training step "
          f"(median of {args.rounds} interleaved rounds of {args.steps} steps)")
    print(f"{'':34s}{'worker (loopback)':>18s}{'ratio':>8s}{'client only':>14s}{'ratio':>8s}")
    labels = {"bare": "bare TFFunction step", "map": "Map(categorical) model",
              "loop": "per-address loop model"}
    for key, label in labels.items():
        print(f"{label:34s}{remote[key]:18.0f}{remote[key] / remote['bare']:8.2f}"
              f"{client[key]:14.0f}{client[key] / client['bare']:8.2f}")
    print("goals: map <= 1.15x bare, loop <= 2x bare (worker column)")


if __name__ == "__main__":
    main()
