"""GenTF's softmax regression on scikit-learn's 8x8 digits: a @gen model calling a TFFunction.

    probs = net(xs) @ "net"                 # softmax(xs W + b), W and b on the worker
    Map(categorical)(probs) @ "y"           # one label per row, at path("y", i)

Each step: ``generate`` the model with a minibatch's labels constrained,
``accumulate_param_gradients`` (the categorical log-likelihood's gradient crosses into
the worker through the network's return value; Map scores and differentiates the 100
labels in one numpy call), then ``ParamUpdate.apply()`` (an SGD
ascent step on the worker, then the accumulators are reset). Prints held-out accuracy
and saves a training-curve PNG.

    python examples/digits_softmax.py                    # embedded local worker
    python examples/digits_softmax.py --address host:50051
    python examples/digits_softmax.py --plot curve.png   # --plot '' saves no figure
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from gentf import Map, TFFunction, accumulate_param_gradients_only, choicemap, generate, tf
from gentf.dsl import categorical, gen
from gentf.inference import FixedStepGradientDescent, ParamUpdate
from sklearn.datasets import load_digits
from tqdm import tqdm


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1]; a shuffled 1,497 / 300 train / test split."""
    digits = load_digits()
    xs = (digits.data / 16.0).astype(np.float32)
    ys = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(xs))
    xs, ys = xs[order], ys[order]
    return xs[300:], ys[300:], xs[:300], ys[:300]


def build(sess: Any) -> tuple[TFFunction, Any, Any, Any]:
    """The network ``softmax(xs W + b)`` (zero init) and the @gen model that calls it."""
    xs = tf.placeholder(tf.float32, shape=(None, 64), name="xs")
    W = tf.Variable(np.zeros((64, 10), np.float32), name="W")
    b = tf.Variable(np.zeros(10, np.float32), name="b")
    probs = tf.nn.softmax(tf.add(tf.matmul(xs, W), b), axis=-1)
    net = TFFunction([W, b], [xs], probs, sess)

    @gen
    def model(xs_val: np.ndarray) -> None:
        probs_val = net(xs_val) @ "net"
        Map(categorical)(probs_val) @ "y"

    return net, W, b, model


def labels(ys: np.ndarray) -> Any:
    """The constraints ``{path("y", i): ys[i]}``: the Map's element i under "y"."""
    return choicemap({"y": {i: int(y) for i, y in enumerate(ys)}})


def save_curve(path: str, loglik: list[float], acc_steps: list[int], accs: list[float]) -> None:
    """Minibatch log-likelihood per example and held-out accuracy against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    top.plot(np.arange(1, len(loglik) + 1), loglik, lw=0.8)
    top.set_ylabel("log-likelihood / example")
    top.set_title("softmax regression on 8x8 digits (gentf)")
    bottom.plot(acc_steps, accs, marker="o")
    bottom.set_xlabel("step")
    bottom.set_ylabel("held-out accuracy")
    bottom.set_ylim(0.0, 1.0)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> float:
    """Trains, prints held-out accuracy, saves the curve; returns the accuracy."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--address", default=None, help="worker host:port (default: embedded worker)")
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--step-size", type=float, default=0.5,
                        help="SGD step on the per-example mean gradient (default 0.5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="digits_softmax.png",
                        help="training-curve PNG (default digits_softmax.png; '' for none)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    train_x, train_y, test_x, test_y = load_data(args.seed)
    sess = tf.Session(args.address)
    try:
        net, W, b, model = build(sess)
        update = ParamUpdate(FixedStepGradientDescent(args.step_size), {net: [W, b]})
        rng = np.random.default_rng(args.seed)
        loglik: list[float] = []
        acc_steps: list[int] = []
        accs: list[float] = []
        started = time.perf_counter()
        for i in tqdm(range(args.steps), desc="train", disable=args.quiet):
            idx = rng.choice(len(train_x), size=args.batch_size, replace=False)
            trace, weight = generate(model, (train_x[idx],), labels(train_y[idx]))
            if i == 0:
                tqdm.write(f"first generate weight {weight:.4f} = {args.batch_size} * log(0.1) "
                      f"= {args.batch_size * np.log(0.1):.4f}")
            # Gen sums gradients over a minibatch; scaling by 1/batch makes the step size
            # apply to the mean.
            accumulate_param_gradients_only(trace, None, 1.0 / args.batch_size)
            update.apply()
            loglik.append(weight / args.batch_size)
            if (i + 1) % 50 == 0 or i + 1 == args.steps:
                acc_steps.append(i + 1)
                accs.append(float(np.mean(np.argmax(net(test_x), axis=1) == test_y)))
            if i == 0 or (i + 1) % 100 == 0:
                tqdm.write(f"step {i + 1:4d}  minibatch log-likelihood per example {loglik[-1]:8.4f}")
        elapsed = time.perf_counter() - started
        accuracy = float(np.mean(np.argmax(net(test_x), axis=1) == test_y))
        print(f"{args.steps} steps in {elapsed:.1f} s ({1e3 * elapsed / max(args.steps, 1):.2f} ms/step)")
        print(f"held-out accuracy: {accuracy:.3f} on {len(test_y)} digits")
        if args.plot:
            save_curve(args.plot, loglik, acc_steps, accs)
            print(f"training curve saved to {args.plot}")
        return accuracy
    finally:
        sess.close()


if __name__ == "__main__":
    main()
