"""Amortized inference: a neural proposal (a TFFunction inside a @gen proposal), trained
with ``train`` on simulated data, then used for importance sampling.

Model (conjugate, so the exact posterior is known and the result can be checked)::

    z ~ normal(0, PRIOR_STD)
    x_j ~ normal(z, NOISE_STD),  j = 0 .. K-1

Proposal: ``(m, log_s) = net(xs)``, ``z ~ normal(m, exp(log_s))``, where ``net`` is a
small tanh network on the worker. ``train`` maximizes ``E[log q(z | xs)]`` over pairs
``(xs, z)`` simulated from the model (the proposal learns the posterior). Then, on fresh
datasets, importance sampling with the trained proposal is compared with the prior as the
proposal by effective sample size (ESS = 1 / sum of squared normalized weights).

    python examples/amortized_inference.py                  # embedded local worker
    python examples/amortized_inference.py --address host:50051 --epochs 30
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import autograd.numpy as anp
import numpy as np
from gentf import TFFunction, choicemap, simulate, tf
from gentf.dsl import gen, normal, seed
from gentf.inference import ADAM, ParamUpdate, importance_sampling, train

PRIOR_STD = 3.0
NOISE_STD = 0.3
K = 4
HIDDEN = 16


@gen
def model() -> float:
    """The latent ``z`` and ``K`` noisy observations of it at ``("x", j)``."""
    z = normal(0.0, PRIOR_STD) @ "z"
    for j in range(K):
        normal(z, NOISE_STD) @ ("x", j)
    return z


def build_network(sess: Any, rng: np.random.Generator) -> tuple[TFFunction, list[Any]]:
    """``(m, log_s) = net(xs)`` for a batch of datasets ``xs`` of shape (n, K)."""
    xs = tf.placeholder(tf.float64, shape=(None, K), name="xs")
    W1 = tf.Variable(rng.normal(0.0, 0.3, (K, HIDDEN)), name="W1")
    b1 = tf.Variable(np.zeros(HIDDEN), name="b1")
    W2 = tf.Variable(rng.normal(0.0, 0.1, (HIDDEN, 2)), name="W2")
    b2 = tf.Variable(np.zeros(2), name="b2")
    # Inputs scaled by the prior's spread; the network's mean output scaled back.
    hidden = tf.tanh(tf.add(tf.matmul(tf.multiply(xs, 1.0 / PRIOR_STD), W1), b1))
    out = tf.add(tf.matmul(hidden, W2), b2)
    params = [W1, b1, W2, b2]
    return TFFunction(params, [xs], out, sess), params


def make_proposal(net: TFFunction) -> Any:
    """The @gen proposal ``q(z | xs)`` that calls the network."""

    @gen
    def proposal(xs: np.ndarray) -> None:
        out = net(xs[None, :]) @ "net"
        normal(PRIOR_STD * out[0, 0], anp.exp(out[0, 1])) @ "z"

    return proposal


def observations(trace_choices: Any) -> tuple[np.ndarray, Any]:
    """``(xs, constraints)``: the observed values of a model trace's choices."""
    xs = np.array([trace_choices[("x", j)] for j in range(K)])
    return xs, choicemap({("x", j): float(x) for j, x in enumerate(xs)})


def data_generator() -> tuple[tuple[np.ndarray], Any]:
    """One training example for the proposal: ``((xs,), {"z": z})`` simulated from the model."""
    choices = simulate(model, ()).get_choices()
    xs, _ = observations(choices)
    return (xs,), choicemap({"z": choices["z"]})


def exact_posterior(xs: np.ndarray) -> tuple[float, float]:
    """The posterior mean and standard deviation of ``z`` given ``xs``."""
    precision = 1.0 / PRIOR_STD**2 + len(xs) / NOISE_STD**2
    return float(np.sum(xs) / NOISE_STD**2 / precision), float(precision**-0.5)


def ess(log_norm_weights: np.ndarray) -> float:
    """Effective sample size of normalized log weights."""
    return float(1.0 / np.sum(np.exp(2 * log_norm_weights)))


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Trains the proposal, compares ESS; returns the mean ESS of both proposals."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--address", default=None, help="worker host:port (default: embedded worker)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument("--num-samples", type=int, default=100,
                        help="importance samples per dataset (default 100)")
    parser.add_argument("--num-datasets", type=int, default=10,
                        help="held-out datasets to evaluate on (default 10)")
    parser.add_argument("--learning-rate", type=float, default=0.03, help="ADAM learning rate (default 0.03)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    seed(args.seed)
    sess = tf.Session(args.address)
    try:
        net, params = build_network(sess, np.random.default_rng(args.seed))
        proposal = make_proposal(net)
        update = ParamUpdate(ADAM(args.learning_rate), {net: params})
        started = time.perf_counter()
        history = train(proposal, data_generator, update, num_epoch=args.epochs,
                        epoch_size=200, num_minibatch=8, minibatch_size=25,
                        evaluation_size=100, progress=not args.quiet)
        print(f"trained in {time.perf_counter() - started:.1f} s; held-out E[log q(z | xs)] "
              f"per epoch: first {history[0]:.3f}, last {history[-1]:.3f}")

        ess_neural, ess_prior = [], []
        print(f"{'dataset':>7} {'posterior mean':>14} {'IS mean (neural)':>16} "
              f"{'ESS neural':>10} {'ESS prior':>9}")
        for d in range(args.num_datasets):
            xs, obs = observations(simulate(model, ()).get_choices())
            traces, log_w, _ = importance_sampling(model, (), obs, args.num_samples,
                                                   proposal=proposal, proposal_args=(xs,))
            _, log_w_prior, _ = importance_sampling(model, (), obs, args.num_samples)
            mean = float(sum(np.exp(lw) * t["z"] for t, lw in zip(traces, log_w)))
            ess_neural.append(ess(log_w))
            ess_prior.append(ess(log_w_prior))
            print(f"{d:7d} {exact_posterior(xs)[0]:14.3f} {mean:16.3f} "
                  f"{ess_neural[-1]:10.1f} {ess_prior[-1]:9.1f}")
        result = {"ess_neural": float(np.mean(ess_neural)), "ess_prior": float(np.mean(ess_prior))}
        print(f"mean effective sample size of {args.num_samples} samples: neural proposal "
              f"{result['ess_neural']:.1f}, prior as proposal {result['ess_prior']:.1f}")
        return result
    finally:
        sess.close()


if __name__ == "__main__":
    main()
