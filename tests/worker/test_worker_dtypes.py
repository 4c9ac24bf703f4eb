"""Dtypes, shapes and degenerate functions through a real worker: float64 fed to float32,
constant outputs, 0-d outputs, outputs that ignore an input, exact values of every dtype."""

from __future__ import annotations

import numpy as np
import pytest
from gentf import (
    TFFunction,
    accumulate_param_gradients,
    choice_gradients,
    choicemap,
    generate,
    get_param_grad_tf_var,
    runtf,
    select,
    simulate,
    tf,
)


def test_float64_fed_to_float32_placeholder(session):
    W = tf.Variable(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32), name="W")
    x = tf.placeholder(tf.float32, shape=(2,), name="x")
    y = tf.squeeze(tf.matmul(W, tf.expand_dims(x, axis=1)), axis=1)
    f = TFFunction([W], [x], y, session)
    x64 = np.array([0.1, -0.3], dtype=np.float64)
    trace, _ = generate(f, (x64,), choicemap())
    retval = trace.get_retval()
    assert retval.dtype == np.float32
    x32 = x64.astype(np.float32)
    expected = np.array([[1, 2], [3, 4]], dtype=np.float32) @ x32
    np.testing.assert_allclose(retval, expected, rtol=1e-6)
    assert trace.get_args()[0].dtype == np.float32
    # the float64 output gradient is cast too; gradients come back as float32
    (xg,) = accumulate_param_gradients(trace, np.array([1.0, 1.0]))
    assert xg.dtype == np.float32
    np.testing.assert_allclose(xg, [4.0, 6.0])
    acc = runtf(f, get_param_grad_tf_var(f, W))
    assert acc.dtype == np.float32
    np.testing.assert_allclose(acc, np.outer([1.0, 1.0], x32), rtol=1e-6)
    # feeding a float64 value to a float32 placeholder through runtf works too
    np.testing.assert_allclose(runtf(f, y, feed_dict={x: x64}), expected, rtol=1e-6)
    # python lists and ints are accepted for a float placeholder
    np.testing.assert_allclose(f([1, 0]), [1.0, 3.0])


def test_no_params_constant_output(session):
    x = tf.placeholder(tf.float64, shape=(3,), name="x")
    out = tf.constant(np.array([1.5, -2.0]))
    f = TFFunction([], [x], out, session)
    assert f.get_params() == []
    trace = simulate(f, (np.array([1.0, 2.0, 3.0]),))
    np.testing.assert_array_equal(trace.get_retval(), [1.5, -2.0])
    (xg,), _, _ = choice_gradients(trace, select(), np.array([1.0, 1.0]))
    np.testing.assert_array_equal(xg, np.zeros(3))
    assert xg.dtype == np.float64
    (xg,) = accumulate_param_gradients(trace, np.array([3.0, 4.0]), 2.0)
    np.testing.assert_array_equal(xg, np.zeros(3))


def test_constant_plus_zero_times_input(session):
    x = tf.placeholder(tf.float64, shape=(2,), name="x")
    f = TFFunction([], [x], tf.constant(np.array([7.0, 8.0])) + 0.0 * x, session)
    trace = simulate(f, (np.array([1.0, 2.0]),))
    np.testing.assert_array_equal(trace.get_retval(), [7.0, 8.0])
    (xg,), _, _ = choice_gradients(trace, select(), np.array([1.0, -1.0]))
    np.testing.assert_array_equal(xg, [0.0, 0.0])


def test_scalar_output_and_scalar_input(session):
    a = tf.Variable(np.float64(3.0), name="a")
    s = tf.placeholder(tf.float64, shape=(), name="s")
    v = tf.placeholder(tf.float64, shape=(None,), name="v")
    out = tf.reduce_sum(a * s * v)   # 0-d
    f = TFFunction([a], [s, v], out, session)
    trace = simulate(f, (2.0, np.array([1.0, 2.0, 3.0])))
    retval = trace.get_retval()
    assert retval.shape == ()
    assert float(retval) == 36.0
    sg, vg = accumulate_param_gradients(trace, 0.5, 2.0)
    assert sg.shape == ()
    assert float(sg) == pytest.approx(0.5 * 3.0 * 6.0)
    np.testing.assert_allclose(vg, [3.0, 3.0, 3.0])  # 0.5 * a * s
    acc = runtf(f, get_param_grad_tf_var(f, a))
    assert acc.shape == ()
    assert float(acc) == pytest.approx(2.0 * 0.5 * 2.0 * 6.0)
    # a batch of another length works without recompiling anything visible
    assert float(f(1.0, np.array([1.0]))) == 3.0


def test_scalar_variable_as_output(session):
    a = tf.Variable(np.float64(1.25), name="a")
    x = tf.placeholder(tf.float64, shape=(2,), name="x")
    f = TFFunction([a], [x], a, session)
    trace = simulate(f, (np.zeros(2),))
    assert float(trace.get_retval()) == 1.25
    (xg,) = accumulate_param_gradients(trace, 2.0)
    np.testing.assert_array_equal(xg, [0.0, 0.0])
    assert float(runtf(f, get_param_grad_tf_var(f, a))) == 2.0


def test_output_independent_of_one_input(session):
    w = tf.Variable(np.array([1.0, 2.0]), name="w")
    x = tf.placeholder(tf.float64, shape=(2,), name="x")
    unused = tf.placeholder(tf.float32, shape=(4,), name="unused")
    k = tf.placeholder(tf.int32, shape=(2,), name="k")
    y = w * x + tf.cast(k, tf.float64)
    f = TFFunction([w], [x, unused, k], y, session)
    assert f.has_argument_grads() == (True, True, False)
    trace = simulate(f, (np.array([3.0, 4.0]), np.ones(4, np.float32), np.array([1, 2], np.int32)))
    np.testing.assert_array_equal(trace.get_retval(), [4.0, 10.0])
    xg, ug, kg = accumulate_param_gradients(trace, np.array([1.0, 10.0]))
    np.testing.assert_array_equal(xg, [1.0, 20.0])
    np.testing.assert_array_equal(ug, np.zeros(4, np.float32))
    assert ug.dtype == np.float32
    np.testing.assert_array_equal(kg, [0, 0])
    assert kg.dtype == np.int32
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, w)), [3.0, 40.0])


def test_param_the_output_does_not_depend_on(session):
    used = tf.Variable(np.array([2.0]), name="used")
    unused = tf.Variable(np.array([[5.0, 6.0]]), name="unused")
    x = tf.placeholder(tf.float64, shape=(1,), name="x")
    f = TFFunction([used, unused], [x], used * x, session)
    trace = simulate(f, (np.array([3.0]),))
    accumulate_param_gradients(trace, np.array([1.0]))
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, used)), [3.0])
    np.testing.assert_array_equal(runtf(f, get_param_grad_tf_var(f, unused)), [[0.0, 0.0]])


def _values(dtype: str) -> np.ndarray:
    if dtype == "bool":
        return np.array([[True, False, True], [False, False, True]])
    npd = np.dtype(dtype)
    if npd.kind == "f":
        info = np.finfo(npd)
        return np.array([[0.0, -0.0, 1.5, -2.25], [info.max, info.min, info.tiny, np.inf],
                         [-np.inf, 1 / 3, 1e-3, 65000.0 if dtype == "float16" else 1e30]], dtype=npd)
    if npd.kind == "c":
        return np.array([1 + 2j, -3.5 - 0.25j, 0j], dtype=npd)
    info = np.iinfo(npd)
    return np.array([info.min, info.max, 0, -1 if info.min < 0 else 1, 7], dtype=npd)


ALL_DTYPES = ["float16", "float32", "float64", "int32", "int64", "bool",
              "int8", "int16", "uint8", "uint16", "complex64", "complex128"]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_exact_values_through_generate_and_runop(session, dtype):
    value = _values(dtype)
    x = tf.placeholder(getattr(tf, dtype), shape=value.shape, name="x")
    y = tf.identity(x)
    f = TFFunction([], [x], y, session)
    trace = simulate(f, (value,))
    out = trace.get_retval()
    assert out.dtype == value.dtype
    assert out.shape == value.shape
    assert out.tobytes() == value.tobytes()  # bit-exact, -0.0 and extremes included
    fetched = runtf(f, y, feed_dict={x: value})
    assert fetched.dtype == value.dtype
    assert fetched.tobytes() == value.tobytes()
    assert f.accepts_output_grad() == (np.dtype(dtype).kind in "fc")
    assert f.has_argument_grads() == ((np.dtype(dtype).kind in "fc"),)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "bool"])
def test_exact_values_of_variables(session, dtype):
    value = _values(dtype)
    v = tf.Variable(value, name="v")
    got = session.run(v)
    assert got.dtype == value.dtype
    assert got.tobytes() == value.tobytes()


def test_nan_travels(session):
    x = tf.placeholder(tf.float32, shape=(3,), name="x")
    f = TFFunction([], [x], tf.identity(x), session)
    out = f(np.array([np.nan, 1.0, -np.nan], dtype=np.float32))
    assert np.isnan(out[0]) and out[1] == 1.0 and np.isnan(out[2])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_gradients_in_each_float_dtype(session, dtype):
    npd = np.dtype(dtype)
    w = tf.Variable(np.array([1.0, -2.0, 0.5], dtype=npd), name="w")
    x = tf.placeholder(getattr(tf, dtype), shape=(3,), name="x")
    f = TFFunction([w], [x], tf.reduce_sum(w * x * x), session)
    xv = np.array([1.0, 2.0, -1.0], dtype=npd)
    trace = simulate(f, (xv,))
    assert trace.get_retval().dtype == npd
    assert float(trace.get_retval()) == -6.5
    (xg,) = accumulate_param_gradients(trace, np.array(2.0, dtype=npd), 0.5)
    assert xg.dtype == npd
    np.testing.assert_array_equal(xg, (2 * 2 * np.array([1.0, -2.0, 0.5]) * xv).astype(npd))
    acc = runtf(f, get_param_grad_tf_var(f, w))
    assert acc.dtype == npd
    np.testing.assert_array_equal(acc, (0.5 * 2.0 * xv * xv).astype(npd))


def test_string_tensor_through_runop(session):
    s = tf.placeholder(tf.string, shape=(2,), name="s")
    out = session.run(tf.identity(s), feed_dict={s: [b"ab\x00c", "h\u00e9"]})
    assert list(out) == [b"ab\x00c", "h\u00e9".encode()]


def test_integer_output_gradient_is_zero(session):
    x = tf.placeholder(tf.float64, shape=(2,), name="x")
    f = TFFunction([], [x], tf.cast(x, tf.int32), session)
    assert not f.accepts_output_grad()
    trace = simulate(f, (np.array([1.7, -2.2]),))
    np.testing.assert_array_equal(trace.get_retval(), [1, -2])
    (xg,), _, _ = choice_gradients(trace, select(), np.array([1, 1], np.int32))
    np.testing.assert_array_equal(xg, [0.0, 0.0])
