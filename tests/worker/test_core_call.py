"""``core.distribute.call`` runs a compiled function through TensorFlow's flat entry point
(no per-call signature binding) or, where it is the same call, straight through
``TFE_Py_Execute`` (``core.fastcall``): the outputs are exactly those of the ordinary call,
in the same structure, a tape records it, a kernel error is TensorFlow's, and a function
without that entry point is called the ordinary way."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
from gentf_server.core import distribute, fastcall


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


# ---- the short path through TFE_Py_Execute (core.fastcall) ----------------------------------


def _concrete(fn, *specs):
    return tf.function(fn, input_signature=list(specs), autograph=False).get_concrete_function()


def test_the_short_path_is_taken_and_keeps_each_output_structure() -> None:
    v = tf.Variable(np.arange(3.0))
    spec = tf.TensorSpec([3], tf.float64)
    one = _concrete(lambda x: x * v, spec)
    pair = _concrete(lambda x: (x + v, tf.reduce_sum(x)), spec)
    def add(x):
        v.assign_add(x)

    none = _concrete(add, spec)
    x = tf.constant([1.0, 2.0, 4.0], tf.float64)

    got = distribute.call(one, [x])
    assert fastcall._PLANS[one] is not None  # the short path, not the fallback
    assert isinstance(got, tf.Tensor)
    np.testing.assert_array_equal(got.numpy(), one(x).numpy())
    got_pair = distribute.call(pair, [x])
    assert fastcall._PLANS[pair] is not None and len(got_pair) == 2
    for g, w in zip(got_pair, pair(x)):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    assert distribute.call(none, [x]) is None
    assert fastcall._PLANS[none] is not None
    np.testing.assert_array_equal(v.numpy(), [1.0, 3.0, 6.0])  # it ran once


def test_under_a_tape_the_call_is_recorded_as_tensorflow_records_it() -> None:
    spec = tf.TensorSpec([3], tf.float64)
    square_sum = _concrete(lambda x: tf.reduce_sum(x * x), spec)
    x = tf.constant([1.0, 2.0, 4.0], tf.float64)
    distribute.call(square_sum, [x])  # planned for the short path
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = distribute.call(square_sum, [x])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 4.0, 8.0])


def test_a_kernel_error_on_the_short_path_is_tensorflows_error() -> None:
    params = tf.Variable(np.arange(4.0))
    gather = _concrete(lambda i: tf.gather(params, i), tf.TensorSpec([None], tf.int32))
    assert distribute.call(gather, [tf.constant([3, 0], tf.int32)]).numpy().tolist() == [3.0, 0.0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="indices"):
        distribute.call(gather, [tf.constant([7], tf.int32)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="indices"):
        gather(tf.constant([7], tf.int32))  # the same error the ordinary call raises
