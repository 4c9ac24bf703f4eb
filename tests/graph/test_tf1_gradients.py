"""``tf.gradients`` against real TensorFlow for every op case of test_ops_numeric (150+).

Each case's outputs are weighted by fixed random arrays and summed; gentf builds the
gradient of the total with respect to every case's inputs in ONE ``tf.gradients`` call (the
worker runs TensorFlow's gradient registry and the nodes are mirrored into the client graph)
and ONE run; eager TensorFlow's GradientTape gives the reference per case. A gradient that
TensorFlow leaves unconnected (None) counts as zeros on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gentf import tf as gtf
from gentf.graph import Graph
from test_ops_numeric import CASES, _flat

W_RNG = np.random.default_rng(99)

# Inputs that reach only non-differentiable outputs (indices, comparisons) on both sides.
_FLOAT_KINDS = "fc"


class _TF1Reference:
    """Eager TensorFlow with TensorFlow 1's meaning where gentf.tf (the v1 API) differs:
    ``nn.softmax_cross_entropy_with_logits`` passes no gradient into the labels."""

    def __init__(self, tf: Any) -> None:
        self._tf = tf
        self.nn = _Overlay(tf.nn, softmax_cross_entropy_with_logits=(
            tf.compat.v1.nn.softmax_cross_entropy_with_logits))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tf, name)


class _Overlay:
    def __init__(self, base: Any, **overrides: Any) -> None:
        self._base, self._overrides = base, overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides[name] if name in self._overrides else getattr(self._base, name)


def _float_outputs(values: list[Any]) -> list[int]:
    return [k for k, v in enumerate(values) if np.asarray(v).dtype.kind in _FLOAT_KINDS]


@pytest.fixture(scope="module")
def gradient_results(worker: Any) -> Iterator[dict[str, tuple[list[Any], list[Any]]]]:
    """name -> (gentf gradients, TensorFlow gradients), one per input of the case."""
    import tensorflow

    tf = _TF1Reference(tensorflow)
    graph = Graph()
    results: dict[str, tuple[list[Any], list[Any]]] = {}
    with graph.as_default():
        sess = gtf.Session(worker.address, graph=graph)
        try:
            losses, inputs, spans, expected = [], [], [], {}
            for name, fn, arrays in CASES:
                arrays = [np.asarray(a, np.float64) for a in arrays]
                consts = [tf.constant(a) for a in arrays]
                with tf.GradientTape() as tape:
                    tape.watch(consts)
                    outs = _flat(fn(tf, *consts))
                    keep = _float_outputs([o.numpy() for o in outs])
                    weights = [W_RNG.uniform(-1, 1, outs[k].shape) for k in keep]
                    total = sum(tf.reduce_sum(outs[k] * w) for k, w in zip(keep, weights))
                if not keep:
                    continue
                ref = tape.gradient(total, consts)
                expected[name] = [np.zeros_like(a) if g is None else np.asarray(tf.convert_to_tensor(g))
                                  for g, a in zip(ref, arrays)]
                xs = [gtf.constant(a) for a in arrays]
                ours = _flat(fn(gtf, *xs))
                losses.extend(gtf.reduce_sum(ours[k] * w) for k, w in zip(keep, weights))
                spans.append((name, len(inputs), len(xs)))
                inputs.extend(xs)
            grads = gtf.gradients(gtf.add_n(losses), inputs)
            fetch = [g for g in grads if g is not None]
            values = iter(sess.run(fetch))
            got = [None if g is None else next(values) for g in grads]
            for name, start, count in spans:
                mine = [np.zeros(inputs[k].shape) if got[k] is None else got[k]
                        for k in range(start, start + count)]
                results[name] = (mine, expected[name])
            yield results
        finally:
            sess.close()


NOT_DIFFERENTIABLE = {
    "is_nan", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_not", "logical_xor", "reduce_all", "reduce_any",
    "argmax", "argmin", "count_nonzero", "where1", "cast", "shape_size_rank",
}
"""Cases whose outputs are all integer or boolean (nothing to differentiate)."""

DIFFERENTIABLE = [c[0] for c in CASES if c[0] not in NOT_DIFFERENTIABLE]


def test_case_count(gradient_results: dict[str, Any]) -> None:
    """At least 100 differentiable op cases are compared, and exactly the cases listed as
    not differentiable have no floating point output."""
    assert len(DIFFERENTIABLE) >= 100
    assert set(gradient_results) == set(DIFFERENTIABLE)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradient_matches_tensorflow(gradient_results: dict[str, Any], name: str) -> None:
    """The worker-built gradient of this op equals eager TensorFlow's, input by input."""
    mine, theirs = gradient_results[name]
    assert len(mine) == len(theirs)
    for k, (a, b) in enumerate(zip(mine, theirs)):
        assert np.shape(a) == np.shape(b), f"{name} input {k}: shape {np.shape(a)} != {np.shape(b)}"
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9, err_msg=f"{name} input {k}")


def test_gradients_are_mirrored_into_the_client_graph(session: gtf.Session) -> None:
    """The gradient nodes join the client's graph under the name scope, with static shapes,
    and d/dW of a Variable flows through every read of it."""
    x = gtf.placeholder(gtf.float64, (None, 3), name="x")
    W = gtf.Variable(np.arange(6.0).reshape(3, 2), name="W")
    y = gtf.reduce_sum(gtf.matmul(x, W) + gtf.reduce_sum(W.assign_add(np.ones((3, 2)))))
    (gW,) = gtf.gradients(y, [W])
    assert gW.op.name.startswith("gradients/") and gW.shape == (3, 2)
    assert all(op.name in session.graph._by_name for op in session.graph.operations)
    again = gtf.gradients(y, W)
    assert again[0].op.name.startswith("gradients_1/")
    xv = np.arange(12.0).reshape(4, 3)
    g = session.run(gW, {x: xv})
    # d/dW sum(x W) = x^T 1; the assign_add read (a scalar sum broadcast over the 4 x 2
    # result) adds 8 per entry: a variable's gradient flows through all its reads.
    np.testing.assert_allclose(g, xv.T @ np.ones((4, 2)) + 8.0)


def test_gradients_with_grad_ys_and_stop_gradients(session: gtf.Session) -> None:
    """``grad_ys`` weights the ys and ``stop_gradients`` blocks a path, as in TensorFlow."""
    a = gtf.constant(np.array([1.0, 2.0]))
    b = gtf.multiply(a, 3.0)
    y = gtf.multiply(a, b)  # 3 a^2
    (g,) = gtf.gradients(y, [a], grad_ys=[gtf.constant(np.array([1.0, 10.0]))])
    (h,) = gtf.gradients(y, [a], stop_gradients=[b])
    (none,) = gtf.gradients(y, [gtf.constant(1.0)])
    assert none is None
    np.testing.assert_allclose(session.run(g), [6.0, 120.0])
    np.testing.assert_allclose(session.run(h), [3.0, 6.0])


def test_gradients_before_any_session(worker: Any, graph: Graph, monkeypatch: Any) -> None:
    """As in TensorFlow 1 programs, gradients (and minimize) can be built before a session
    exists: the default worker ($GENTF_ADDRESS) builds them."""
    monkeypatch.setenv("GENTF_ADDRESS", worker.address)
    from gentf.remote import _session

    monkeypatch.setattr(_session._DEFAULT, "session", None)
    v = gtf.Variable(np.array([2.0, -1.0]), name="v")
    step = gtf.train.GradientDescentOptimizer(0.25).minimize(gtf.reduce_sum(gtf.square(v)))
    with gtf.Session(worker.address) as sess:
        sess.run(step)
        np.testing.assert_allclose(sess.run(v), [1.0, -0.5])
