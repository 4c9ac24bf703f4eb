"""Optimizers build update ops on the worker; their first steps match TensorFlow 1's formulas."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from gentf import (
    TFFunction,
    accumulate_param_gradients,
    choicemap,
    generate,
    get_param_grad_tf_var,
    runtf,
    tf,
)


def test_adam_on_negated_accumulator(session: tf.Session) -> None:
    """GenTF's manual check: params [0, 0], accumulated gradient [2, -0.5], lr 0.1, eps 0.1."""
    W = tf.Variable(np.zeros(2), name="W")
    x = tf.placeholder(tf.float64, shape=(2,), name="x")
    net = TFFunction([W], [x], W * x, session)
    trace, _ = generate(net, (np.ones(2),), choicemap())
    accumulate_param_gradients(trace, np.array([2.0, -0.5]), 1.0)
    np.testing.assert_allclose(runtf(net, get_param_grad_tf_var(net, W)), [2.0, -0.5])
    step = tf.train.AdamOptimizer(0.1, epsilon=0.1).apply_gradients(
        [(tf.negative(get_param_grad_tf_var(net, W)), W)])
    runtf(net, step)
    np.testing.assert_allclose(runtf(net, W), [0.038742, -0.013653], atol=1e-6)  # 6 printed digits


def _adam(lr: float, b1: float, b2: float, eps: float) -> Callable[[np.ndarray, np.ndarray, dict], np.ndarray]:
    def step(w: np.ndarray, g: np.ndarray, s: dict) -> np.ndarray:
        s["t"] = s.get("t", 0) + 1
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2 ** s["t"]) / (1 - b1 ** s["t"])
        return w - lr_t * s["m"] / (np.sqrt(s["v"]) + eps)
    return step


def _sgd(lr: float) -> Callable[[np.ndarray, np.ndarray, dict], np.ndarray]:
    return lambda w, g, s: w - lr * g


def _momentum(lr: float, mu: float, nesterov: bool) -> Callable[[np.ndarray, np.ndarray, dict], np.ndarray]:
    def step(w: np.ndarray, g: np.ndarray, s: dict) -> np.ndarray:
        s["a"] = mu * s.get("a", 0) + g
        return w - (lr * g + lr * mu * s["a"] if nesterov else lr * s["a"])
    return step


def _rmsprop(lr: float, decay: float, mu: float, eps: float, centered: bool) -> Callable[..., np.ndarray]:
    def step(w: np.ndarray, g: np.ndarray, s: dict) -> np.ndarray:
        s["ms"] = decay * s.get("ms", 1.0) + (1 - decay) * g * g
        denom = s["ms"]
        if centered:
            s["mg"] = decay * s.get("mg", 0) + (1 - decay) * g
            denom = s["ms"] - s["mg"] ** 2
        s["mom"] = mu * s.get("mom", 0) + lr * g / np.sqrt(denom + eps)
        return w - s["mom"]
    return step


def _adagrad(lr: float, init: float) -> Callable[[np.ndarray, np.ndarray, dict], np.ndarray]:
    def step(w: np.ndarray, g: np.ndarray, s: dict) -> np.ndarray:
        s["acc"] = s.get("acc", init) + g * g
        return w - lr * g / np.sqrt(s["acc"])
    return step


OPTIMIZERS = [
    ("sgd", lambda: tf.train.GradientDescentOptimizer(0.3), _sgd(0.3)),
    ("momentum", lambda: tf.train.MomentumOptimizer(0.1, 0.9), _momentum(0.1, 0.9, False)),
    ("nesterov", lambda: tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True), _momentum(0.1, 0.9, True)),
    ("rmsprop", lambda: tf.train.RMSPropOptimizer(0.01, decay=0.9, momentum=0.5, epsilon=1e-6),
     _rmsprop(0.01, 0.9, 0.5, 1e-6, False)),
    ("rmsprop_centered", lambda: tf.train.RMSPropOptimizer(0.01, centered=True, epsilon=1e-6),
     _rmsprop(0.01, 0.9, 0.0, 1e-6, True)),
    ("adagrad", lambda: tf.train.AdagradOptimizer(0.5, initial_accumulator_value=0.2), _adagrad(0.5, 0.2)),
    ("adam", lambda: tf.train.AdamOptimizer(0.05, beta1=0.8, beta2=0.9, epsilon=1e-3), _adam(0.05, 0.8, 0.9, 1e-3)),
]


@pytest.mark.parametrize("label,make,formula", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_first_steps_match_formula(session: tf.Session, label: str, make: Callable, formula: Callable) -> None:
    """Three steps with changing gradients (fed), two variables, against numpy."""
    rng = np.random.default_rng(5)
    w0 = [rng.normal(size=(2, 3)), rng.normal(size=3)]
    variables = [tf.Variable(w, name=f"w{k}") for k, w in enumerate(w0)]
    grads = [tf.placeholder(tf.float64, shape=w.shape) for w in w0]
    step = make().apply_gradients(list(zip(grads, variables)))
    expected = [w.copy() for w in w0]
    states: list[dict] = [{}, {}]
    for _ in range(3):
        g = [rng.normal(size=w.shape) for w in w0]
        session.run(step, {p: v for p, v in zip(grads, g)})
        expected = [formula(w, gk, s) for w, gk, s in zip(expected, g, states)]
        got = session.run(variables)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=label)
    assert not np.allclose(got[0], w0[0])
