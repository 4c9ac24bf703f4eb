"""GenTF's convnet example on scikit-learn's 8x8 digits, built with gentf.tf, trained on a worker.

    conv 5x5 (32) -> relu -> max-pool 2x2 -> conv 5x5 (64) -> relu -> max-pool 2x2
    -> dense (256) -> relu -> dense (10) -> softmax;   y_i ~ categorical(probs_i)

Each step: generate a trace of the network on a minibatch, compute the categorical
log-likelihood's gradient with respect to ``probs`` in numpy, accumulate the parameter
gradients on the worker, apply an Adam step on the negated accumulators (built with
``tf.train.AdamOptimizer(...).apply_gradients``) and reset them. Prints held-out accuracy.

    python examples/digits_convnet.py                    # embedded local worker
    python examples/digits_convnet.py --address host:50051 --steps 600
"""

from __future__ import annotations

import argparse
import time

import numpy as np
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
from sklearn.datasets import load_digits
from tqdm import tqdm


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits as [n, 8, 8, 1] images in [0, 1]; a shuffled 1,497 / 300 train / test split."""
    digits = load_digits()
    xs = (digits.images / 16.0).astype(np.float32)[..., None]
    ys = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(xs))
    xs, ys = xs[order], ys[order]
    return xs[300:], ys[300:], xs[:300], ys[:300]


@tf.auto_name
def convnet(images: tf.Tensor, seed: int) -> tuple[list[tf.Variable], tf.Tensor]:
    """The network; every node is named after the variable holding it (``W_conv1``, ``probs``)."""
    init = tf.initializers.TruncatedNormal(stddev=0.1, seed=seed)
    W_conv1 = tf.Variable(init((5, 5, 1, 32)))
    b_conv1 = tf.Variable(np.full(32, 0.1, np.float32))
    h_pool1 = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(images, W_conv1, 1, "SAME") + b_conv1), 2, 2, "SAME")
    W_conv2 = tf.Variable(tf.initializers.TruncatedNormal(stddev=0.1, seed=seed + 1)((5, 5, 32, 64)))
    b_conv2 = tf.Variable(np.full(64, 0.1, np.float32))
    h_pool2 = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(h_pool1, W_conv2, 1, "SAME") + b_conv2), 2, 2, "SAME")
    W_fc1 = tf.Variable(tf.initializers.TruncatedNormal(stddev=0.1, seed=seed + 2)((2 * 2 * 64, 256)))
    b_fc1 = tf.Variable(np.full(256, 0.1, np.float32))
    h_fc1 = tf.nn.relu(tf.reshape(h_pool2, (-1, 2 * 2 * 64)) @ W_fc1 + b_fc1)
    W_fc2 = tf.Variable(tf.initializers.TruncatedNormal(stddev=0.1, seed=seed + 3)((256, 10)))
    b_fc2 = tf.Variable(np.full(10, 0.1, np.float32))
    probs = tf.nn.softmax(h_fc1 @ W_fc2 + b_fc2)
    return [W_conv1, b_conv1, W_conv2, b_conv2, W_fc1, b_fc1, W_fc2, b_fc2], probs


def main() -> None:
    """Trains and prints held-out accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default=None, help="worker host:port (default: embedded worker)")
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam step size (GenTF: 1e-4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()

    train_x, train_y, test_x, test_y = load_data(args.seed)
    sess = tf.Session(args.address)
    images = tf.placeholder(tf.float32, shape=(None, 8, 8, 1), name="images")
    params, probs = convnet(images, args.seed)
    net = TFFunction(params, [images], probs, sess)
    step = tf.train.AdamOptimizer(args.learning_rate).apply_gradients(
        [(tf.negative(get_param_grad_tf_var(net, p)), p) for p in params])
    reset = reset_param_grads_tf_op(net)

    def accuracy() -> float:
        return float(np.mean(np.argmax(net(test_x), axis=1) == test_y))

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(f"held-out accuracy before training: {accuracy():.3f}")
    for i in tqdm(range(args.steps), desc="train", disable=args.quiet):
        idx = rng.choice(len(train_x), size=args.batch_size, replace=False)
        trace, _ = generate(net, (train_x[idx],), choicemap())
        p = trace.get_retval()
        rows = np.arange(args.batch_size)
        grad = np.zeros_like(p)
        grad[rows, train_y[idx]] = 1.0 / np.maximum(p[rows, train_y[idx]], 1e-12)  # d loglik / d probs
        accumulate_param_gradients(trace, grad, 1.0 / args.batch_size)
        runtf(net, step)
        runtf(net, reset)
        if (i + 1) % 100 == 0 or i + 1 == args.steps:
            loglik = float(np.mean(np.log(np.maximum(p[rows, train_y[idx]], 1e-12))))
            tqdm.write(f"step {i + 1:4d}  minibatch log-likelihood {loglik:8.4f}  "
                  f"held-out accuracy {accuracy():.3f}  ({time.perf_counter() - started:.1f} s)")
    sess.close()


if __name__ == "__main__":
    main()
