"""``core.tensors.to_tensor`` against ``tf.constant``: the same dtype, shape and values for
every kind of array (aligned or not, strided, read-only, 0-d, empty, strings), and a
tensor made from a misaligned buffer is safe in kernels that need alignment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
from gentf_server.core import tensors
from gentf_server.core.tensors import ALIGN_BYTES, aligned_empty, to_tensor

DTYPES = [np.float16, np.float32, np.float64, np.complex64, np.complex128, np.bool_, np.int8,
          np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def _misaligned(a: np.ndarray) -> np.ndarray:
    raw = np.empty(a.nbytes + 2 * ALIGN_BYTES, np.uint8)
    start = (-raw.ctypes.data % ALIGN_BYTES) + a.dtype.itemsize  # aligned to the element only
    out = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert out.ctypes.data % ALIGN_BYTES != 0
    return out


def _variants(dtype: Any) -> list[np.ndarray]:
    base = (np.arange(24).reshape(4, 6) % 7).astype(dtype)
    read_only = base.copy()
    read_only.flags.writeable = False
    return [base, _misaligned(base), base[:, ::2], base.T, read_only, base[1, 2].copy(),
            np.zeros((0, 3), dtype), base.astype(base.dtype.newbyteorder(">"))]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_to_tensor_equals_tf_constant(dtype: Any) -> None:
    for a in _variants(dtype):
        got, want = to_tensor(a), tf.constant(a)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_strings_and_scalars_go_through_tf_constant() -> None:
    s = np.array([b"a", b"bc"], dtype=object)
    assert to_tensor(s).numpy().tolist() == [b"a", b"bc"]
    assert float(to_tensor(2.5)) == 2.5


def test_a_misaligned_buffer_is_copied_not_shared() -> None:
    """TensorFlow aborts the process in a kernel given a misaligned buffer: the slice below
    would crash it if the misaligned array were handed over as it is."""
    a = _misaligned(np.arange(1 << 16, dtype=np.float32))
    t = to_tensor(a)
    np.testing.assert_array_equal(tf.strided_slice(t, [1], [1 << 15], [3]).numpy(),
                                  a[1:1 << 15:3])
    a[0] = -1.0
    assert float(t[0]) == 0.0  # a copy


def test_an_aligned_buffer_is_shared() -> None:
    a = aligned_empty(4096).view(np.float64)
    a[:] = 1.0
    assert a.ctypes.data % ALIGN_BYTES == 0
    t = to_tensor(a)
    a[0] = 7.0  # (the worker never writes an array it handed over; this shows the sharing)
    assert float(t[0]) == 7.0
    assert float(tf.reduce_sum(t)) == 7.0 + 511.0


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_an_inline_tensor_decodes_into_a_buffer_tensorflow_takes_as_it_is(dtype: Any) -> None:
    """A request's inline elements are copied once, by decode_tensor, into an aligned
    buffer; to_tensor then shares that buffer rather than copying it again."""
    from gentf.wire import decode_tensor, encode_tensor

    want = (np.arange(3 * 1000) % 5).astype(dtype).reshape(3, 1000)
    got = decode_tensor(encode_tensor(want))
    assert got.dtype == want.dtype and got.flags.writeable and got.flags.c_contiguous
    assert got.ctypes.data % ALIGN_BYTES == 0
    np.testing.assert_array_equal(got, want)
    t = to_tensor(got)
    got[0, 0] = 1  # (the worker never writes an array it handed over; this shows the sharing)
    assert t.numpy()[0, 0] == 1


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_to_array_equals_numpy(dtype: Any) -> None:
    """Big tensors are viewed (read-only), small ones copied; the values are numpy()'s."""
    from gentf_server.core.tensors import SHARED_ARRAY_BYTES, to_array

    for n in (5, SHARED_ARRAY_BYTES // np.dtype(dtype).itemsize + 3):
        t = tf.constant((np.arange(n) % 5).astype(dtype))
        got = to_array(t)
        assert got.dtype == t.numpy().dtype and got.shape == tuple(t.shape)
        np.testing.assert_array_equal(got, t.numpy())
        assert got.flags.writeable == (n == 5)


def test_a_viewed_variable_value_stays_as_it_was_after_updates() -> None:
    """TensorFlow copies a variable's buffer on write while the view holds it."""
    from gentf_server.core.tensors import to_array

    v = tf.Variable(tf.ones([1 << 18], tf.float64))
    view = to_array(v.read_value())
    assert not view.flags.writeable
    v.assign_add(tf.ones([1 << 18], tf.float64))
    v.assign(tf.zeros([1 << 18], tf.float64))
    assert float(view.min()) == float(view.max()) == 1.0
    assert float(v[0]) == 0.0


def test_scalar_float64_is_exact_shared_and_keeps_the_sign_of_zero() -> None:
    from gentf_server.core.tensors import scalar_float64

    for v in (1.0, 0.5, 1e-300, -3.25, 0.0, -0.0):
        t = scalar_float64(v)
        assert t.dtype == tf.float64 and t.shape == ()
        assert float(t) == v and np.signbit(float(t)) == np.signbit(v)
        assert scalar_float64(v) is t  # made once, shared
    assert scalar_float64(-0.0) is not scalar_float64(0.0)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64, tf.int8, tf.complex128, tf.bool,
                                   tf.string])
def test_tensor_nbytes_is_elements_times_tensorflows_element_size(dtype: Any) -> None:
    value = tf.zeros((3, 5), dtype) if dtype != tf.string else tf.constant([["ab"] * 5] * 3)
    for _ in range(2):  # the element size is looked up once, then kept
        assert tensors.tensor_nbytes(value) == 15 * dtype.size
    assert tensors.tensor_nbytes(tf.zeros((0, 4), dtype)) == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_result_view_is_a_read_only_view_with_numpys_values(dtype: Any) -> None:
    from gentf_server.core.tensors import result_view

    t = tf.constant((np.arange(12).reshape(3, 4) % 5).astype(dtype))
    got = result_view(t)
    assert got.dtype == t.numpy().dtype and got.shape == (3, 4)
    np.testing.assert_array_equal(got, t.numpy())
    assert not got.flags.writeable and not got.flags.owndata  # no copy, and none can write
    with pytest.raises(ValueError):
        got[0, 0] = 1


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_scalar_result_is_a_read_only_0d_array(dtype: Any) -> None:
    """TensorFlow gives a scalar's value as a numpy scalar, which has no flags to set: it
    comes back as a read-only 0-d array of its dtype and value."""
    from gentf_server.core.tensors import result_view

    t = tf.constant(np.array(3, dtype=dtype))
    got = result_view(t)
    assert type(got) is np.ndarray and got.shape == () and got.dtype == np.dtype(dtype)
    assert got == t.numpy() and not got.flags.writeable


def test_a_result_view_of_a_variable_value_stays_as_it_was_after_updates() -> None:
    """A fused call may return a variable's value: small ones are viewed too, and
    TensorFlow copies the shared buffer before the next write."""
    from gentf_server.core.tensors import result_view

    v = tf.Variable(tf.ones([4, 3], tf.float32))
    view = result_view(v.read_value())
    v.assign_add(tf.ones([4, 3], tf.float32))
    v.assign(tf.zeros([4, 3], tf.float32))
    assert float(view.min()) == float(view.max()) == 1.0
    assert float(v[0, 0]) == 0.0


def test_fits_agrees_with_check_value() -> None:
    """The fast check of a compiled function's arguments accepts exactly what the full
    check accepts."""
    from gentf_server.core import errors
    from gentf_server.core.checks import check_value, expected, fits

    specs = [(tf.float32, tf.TensorShape([None, 3])), (tf.int64, tf.TensorShape([2])),
             (tf.float64, tf.TensorShape(None)), (tf.float32, (4, 3)), (tf.string, tf.TensorShape([]))]
    values = [np.zeros((5, 3), np.float32), np.zeros((5, 4), np.float32), np.zeros((3,), np.float32),
              np.zeros((2,), np.int64), np.zeros((2,), np.int32), np.zeros((4, 3), np.float32),
              np.zeros((2, 2, 2), np.float64), np.array(b"x", dtype=object)]
    for dtype, shape in specs:
        for value in values:
            try:
                check_value(value, dtype, shape, "x")
                accepted = True
            except errors.InvalidArgument:
                accepted = False
            if dtype != tf.string:  # strings always take the full check
                assert fits(value, expected(dtype, shape)) == accepted, (dtype, shape, value.shape)
            else:
                assert not fits(value, expected(dtype, shape))
