"""``core.distribute.call`` runs a compiled function through TensorFlow's flat entry point
(no per-call signature binding): the outputs are exactly those of the ordinary call, in the
same structure, and a function without that entry point is called the ordinary way."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
from gentf_server.core import distribute


def test_the_flat_call_returns_what_the_ordinary_call_returns() -> None:
    rng = np.random.default_rng(3)
    W = tf.Variable(rng.normal(size=(5, 3)))
    specs = [tf.TensorSpec([None, 5], tf.float64), tf.TensorSpec([], tf.float64)]
    cf = tf.function(lambda x, s: [tf.matmul(x, W) * s, tf.reduce_sum(x)],
                     input_signature=specs, autograph=False).get_concrete_function()
    x = tf.constant(rng.normal(size=(4, 5)))
    s = tf.constant(0.5, tf.float64)
    got, want = distribute.call(cf, [x, s]), cf(x, s)
    assert isinstance(got, list) and len(got) == 2
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    W.assign_add(tf.ones((5, 3), tf.float64))  # captures are read at call time
    np.testing.assert_array_equal(distribute.call(cf, [x, s])[0].numpy(), cf(x, s)[0].numpy())


def test_a_function_without_the_flat_entry_point_is_called_normally() -> None:
    assert distribute.call(lambda a, b: a * 10 + b, [4, 2]) == 42
