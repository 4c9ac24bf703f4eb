"""Benchmark: the digits softmax regression at batch 100 through a gentf worker on loopback,
beside the same graph run in-process with TensorFlow.

Prints median microseconds per forward call and per full training step (generate,
accumulate, update, reset), and the ratio to in-process TensorFlow. The worker runs in its
own process (an embedded worker, or --address), as a user's would.

    python benchmarks/bench_digits.py [--iters 500] [--address host:port]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_us(fn: Callable[[], object], iters: int, warmup: int = 20) -> float:
    """Median wall time of ``fn`` in microseconds over ``iters`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1e3


def data(batch: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    xs = (digits.data[:batch] / 16.0).astype(np.float32)
    return xs, digits.target[:batch]


def output_grad(p: np.ndarray, ys: np.ndarray) -> np.ndarray:
    rows = np.arange(len(ys))
    g = np.zeros_like(p)
    g[rows, ys] = 1.0 / p[rows, ys]
    return g


def bench_gentf(xs: np.ndarray, ys: np.ndarray, iters: int, address: str | None) -> dict[str, float]:
    from gentf import (
        FixedStepGradientDescent,
        TFFunction,
        accumulate_param_gradients,
        accumulate_param_gradients_only,
        choicemap,
        generate,
        get_param_grad_tf_var,
        reset_param_grads_tf_op,
        runtf,
        tf,
    )

    sess = tf.Session(address)
    x = tf.placeholder(tf.float32, shape=(None, 64), name="xs")
    W = tf.Variable(np.zeros((64, 10), np.float32), name="W")
    b = tf.Variable(np.zeros(10, np.float32), name="b")
    probs = tf.nn.softmax(tf.add(tf.matmul(x, W), b))
    net = TFFunction([W, b], [x], probs, sess)
    step = tf.train.GradientDescentOptimizer(0.01).apply_gradients(
        [(tf.negative(get_param_grad_tf_var(net, W)), W), (tf.negative(get_param_grad_tf_var(net, b)), b)])
    reset = reset_param_grads_tf_op(net)
    updater = net.make_param_updater(FixedStepGradientDescent(0.01))
    # The update and the reset in one run: the updater's op resets the accumulators only
    # after the step has read them (a plain tf.group(step, reset) leaves their order open, and
    # a reset that runs first makes the step train nothing).
    update_and_reset = updater.op

    def forward() -> object:
        return net(xs)

    def train_step() -> None:
        trace, _ = generate(net, (xs,), choicemap())
        accumulate_param_gradients(trace, output_grad(trace.get_retval(), ys), 0.01)
        runtf(net, step)
        runtf(net, reset)

    def train_step_fused() -> None:
        trace, _ = generate(net, (xs,), choicemap())
        accumulate_param_gradients(trace, output_grad(trace.get_retval(), ys), 0.01)
        runtf(net, update_and_reset)

    def train_step_pipelined() -> None:
        trace, _ = generate(net, (xs,), choicemap())
        accumulate_param_gradients_only(trace, output_grad(trace.get_retval(), ys), 0.01)
        updater.apply()

    calls = sess._transport.calls
    out: dict[str, float] = {}
    for key, fn in (("forward", forward), ("step", train_step), ("step_3rpc", train_step_fused),
                    ("step_1rpc", train_step_pipelined)):
        before = sum(calls.values())
        out[key] = median_us(fn, iters)
        out[key + "_round_trips"] = (sum(calls.values()) - before) / (iters + 20)
    sess.close()
    return out


def bench_tensorflow(xs: np.ndarray, ys: np.ndarray, iters: int) -> dict[str, float]:
    import tensorflow as tf

    W = tf.Variable(np.zeros((64, 10), np.float32))
    b = tf.Variable(np.zeros(10, np.float32))
    gW = tf.Variable(np.zeros((64, 10), np.float32), trainable=False)
    gb = tf.Variable(np.zeros(10, np.float32), trainable=False)
    spec = tf.TensorSpec((None, 64), tf.float32)

    @tf.function(input_signature=[spec])
    def forward(x: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(tf.matmul(x, W) + b)

    @tf.function(input_signature=[spec, tf.TensorSpec((None, 10), tf.float32), tf.TensorSpec([], tf.float32)])
    def accumulate(x: tf.Tensor, g: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
        y = tf.nn.softmax(tf.matmul(x, W) + b)
        dx, dW, db = tf.gradients(y, [x, W, b], grad_ys=g)
        gW.assign_add(scale * dW)
        gb.assign_add(scale * db)
        return dx

    @tf.function
    def update() -> None:
        W.assign_add(0.01 * gW)
        b.assign_add(0.01 * gb)

    @tf.function
    def reset() -> None:
        gW.assign(tf.zeros_like(gW))
        gb.assign(tf.zeros_like(gb))

    xt = tf.constant(xs)

    def fwd() -> object:
        return forward(tf.constant(xs)).numpy()

    def step() -> None:
        p = forward(tf.constant(xs)).numpy()
        accumulate(tf.constant(xs), tf.constant(output_grad(p, ys)), tf.constant(0.01)).numpy()
        update()
        reset()

    _ = xt
    return {"forward": median_us(fwd, iters), "step": median_us(step, iters)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--address", default=None, help="worker host:port (default: embedded worker)")
    args = parser.parse_args()
    xs, ys = data(args.batch)
    remote = bench_gentf(xs, ys, args.iters, args.address)
    local = bench_tensorflow(xs, ys, args.iters)
    print(f"digits softmax regression, batch {args.batch}, median of {args.iters} calls, microseconds")
    print(f"{'':58s}{'gentf (loopback)':>18s}{'in-process TF':>16s}{'ratio':>8s}")
    rows = [("forward call", remote["forward"], local["forward"]),
            ("step: generate, accumulate, update, reset (4 round trips)", remote["step"], local["step"]),
            ("step: update+reset in one run (3 round trips)", remote["step_3rpc"], local["step"]),
            ("step: deferred accumulate + update (1 round trip)", remote["step_1rpc"], local["step"])]
    for label, r, l in rows:
        print(f"{label:58.58s}{r:18.0f}{l:16.0f}{r / l:8.2f}")
    counted = ", ".join(f"{remote[k + '_round_trips']:.2f}" for k in ("forward", "step", "step_3rpc", "step_1rpc"))
    print(f"round trips counted per call or step, by row: {counted}")


if __name__ == "__main__":
    main()
