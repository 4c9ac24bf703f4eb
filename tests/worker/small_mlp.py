"""A small MLP trained with deferred steps, for the tests of saved forwards and of
``--jit-compile`` (issue 9): the network, its data, a training loop, and numpy's gradients."""

from __future__ import annotations

import numpy as np
from gentf import FixedStepGradientDescent, TFFunction, get_param_grad_tf_var, runtf, simulate, tf

RNG = np.random.default_rng(11)
XS = [RNG.normal(size=(8, 6)).astype(np.float32) for _ in range(4)]
YS = [RNG.integers(0, 3, size=8) for _ in range(4)]
INIT = [RNG.normal(size=(6, 5)).astype(np.float32), RNG.normal(size=5).astype(np.float32),
        RNG.normal(size=(5, 3)).astype(np.float32), RNG.normal(size=3).astype(np.float32)]


def mlp(session, tag):
    """A 6-5-3 network with a ReLU hidden layer: its weight gradients read the forward's
    hidden activations, which the saved path keeps and the other recomputes."""
    x = tf.placeholder(tf.float32, shape=(None, 6), name=f"x_{tag}")
    params = [tf.Variable(v, name=f"p{i}_{tag}") for i, v in enumerate(INIT)]
    h = tf.nn.relu(tf.add(tf.matmul(x, params[0]), params[1]))
    out = tf.nn.softmax(tf.add(tf.matmul(h, params[2]), params[3]))
    f = TFFunction(params, [x], out, session)
    return f, params, f.make_param_updater(FixedStepGradientDescent(0.1))


def output_grad(probs, ys):
    """Gradient of sum_i log probs[i, ys[i]]."""
    g = np.zeros_like(probs)
    g[np.arange(len(ys)), ys] = 1.0 / probs[np.arange(len(ys)), ys]
    return g


def train(f, updater, flush=True):
    """Deferred steps (each step's accumulate and update travel with the next generate)."""
    retvals = []
    for xs, ys in zip(XS, YS):
        trace = simulate(f, (xs,))
        retvals.append(trace.get_retval())
        f.accumulate_param_gradients_only(trace, output_grad(trace.get_retval(), ys), 0.5)
        updater.apply()
    if flush:
        f.session.flush()
    return retvals


def state(f, params):
    """The parameters' values, then their accumulators'."""
    return [runtf(f, p) for p in params] + [runtf(f, get_param_grad_tf_var(f, p)) for p in params]


def numpy_grads(params, xs, grad, with_x=False):
    """Parameter gradients of <mlp(xs), grad> in float64 (and the argument's, last, with
    ``with_x``)."""
    W1, b1, W2, b2 = (np.asarray(p, np.float64) for p in params)
    z = xs.astype(np.float64) @ W1 + b1
    h = np.maximum(z, 0)
    logits = h @ W2 + b2
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    g = np.asarray(grad, np.float64)
    dl = p * (g - (g * p).sum(axis=1, keepdims=True))
    dz = (dl @ W2.T) * (z > 0)
    grads = [xs.T @ dz, dz.sum(0), h.T @ dl, dl.sum(0)]
    return grads + [dz @ W1.T] if with_x else grads
