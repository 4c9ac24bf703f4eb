"""GenTF's softmax regression on scikit-learn's 8x8 digits, trained on a gentf worker.

    probs = softmax(xs @ W + b);  y_i ~ categorical(probs_i)

Each step: generate a trace of the network on a minibatch, compute the categorical
log-likelihood's gradient with respect to ``probs`` in numpy, accumulate the parameter
gradients on the worker, then apply an SGD ascent step built with
``tf.train.GradientDescentOptimizer(...).apply_gradients`` on the negated accumulators
and reset them. Prints held-out accuracy.

    python examples/digits_softmax.py                    # embedded local worker
    python examples/digits_softmax.py --address host:50051
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits

from gentf import (
    TFFunction,
    accumulate_param_gradients,
    choicemap,
    generate,
    get_param_grad_tf_var,
    reset_param_grads_tf_op,
    runtf,
    tf,
)


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1]; a shuffled 1,497 / 300 train / test split."""
    digits = load_digits()
    xs = (digits.data / 16.0).astype(np.float32)
    ys = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(xs))
    xs, ys = xs[order], ys[order]
    return xs[300:], ys[300:], xs[:300], ys[:300]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default=None, help="worker host:port (default: embedded worker)")
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--step-size", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train_x, train_y, test_x, test_y = load_data(args.seed)
    sess = tf.Session(args.address)
    xs = tf.placeholder(tf.float32, shape=(None, 64), name="xs")
    W = tf.Variable(np.zeros((64, 10), np.float32), name="W")
    b = tf.Variable(np.zeros(10, np.float32), name="b")
    probs = tf.nn.softmax(tf.add(tf.matmul(xs, W), b), axis=-1)
    net = TFFunction([W, b], [xs], probs, sess)

    step = tf.train.GradientDescentOptimizer(args.step_size).apply_gradients(
        [(tf.negative(get_param_grad_tf_var(net, W)), W),
         (tf.negative(get_param_grad_tf_var(net, b)), b)])
    reset = reset_param_grads_tf_op(net)

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    for i in range(args.steps):
        idx = rng.choice(len(train_x), size=args.batch_size, replace=False)
        trace, _ = generate(net, (train_x[idx],), choicemap())
        p = trace.get_retval()
        rows = np.arange(args.batch_size)
        loglik = float(np.sum(np.log(p[rows, train_y[idx]])))
        grad = np.zeros_like(p)
        grad[rows, train_y[idx]] = 1.0 / p[rows, train_y[idx]]   # d loglik / d probs
        accumulate_param_gradients(trace, grad, 1.0 / args.batch_size)
        runtf(net, step)
        runtf(net, reset)
        if i == 0 or (i + 1) % 100 == 0:
            print(f"step {i + 1:4d}  minibatch log-likelihood per example {loglik / args.batch_size:8.4f}")
    elapsed = time.perf_counter() - started

    test_probs = net(test_x)
    accuracy = float(np.mean(np.argmax(test_probs, axis=1) == test_y))
    print(f"{args.steps} steps in {elapsed:.1f} s ({1e3 * elapsed / args.steps:.2f} ms/step)")
    print(f"held-out accuracy: {accuracy:.3f} on {len(test_y)} digits")
    sess.close()


if __name__ == "__main__":
    main()
