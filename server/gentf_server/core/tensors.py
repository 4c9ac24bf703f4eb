"""numpy arrays to TensorFlow tensors without TensorFlow's slow conversion.

``tf.constant(array)`` copies element by element through TensorFlow's generic converter:
about 20 us for a small array and 350 ms for 256 MiB on the reference machine, where a
numpy copy of the same 256 MiB takes 38 ms. :func:`to_tensor` hands TensorFlow the
array's buffer through DLPack instead (no copy, about 1.4 us). TensorFlow requires the
buffer of a tensor it did not allocate to be aligned to 64 bytes (a misaligned one
aborts the process in a kernel), so a buffer that is not gets one numpy copy into an
aligned buffer first; :func:`aligned_empty` makes buffers that need none (the worker's
blob uploads).

The tensor shares the array's memory: the array must not be written afterwards (the
worker's decoded arguments, feeds and gradients never are). The other way,
:func:`to_array` gives a big result tensor to numpy through DLPack as a read-only view
(``tensor.numpy()`` copies it); TensorFlow copies a buffer on write while such a view of
it is alive, so a variable updated later leaves the view as it was.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf
from gentf.wire._array_address import data_address
from gentf.wire._codec import ALIGN_BYTES, aligned_empty

__all__ = ["ALIGN_BYTES", "SHARED_ARRAY_BYTES", "aligned_empty", "element_count", "result_view",
           "scalar_float64", "tensor_nbytes", "to_array", "to_numpy", "to_tensor"]

_SHARED_DTYPES = frozenset(np.dtype(t) for t in (
    np.float16, np.float32, np.float64, np.complex64, np.complex128, np.bool_,
    np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64))
"""Element types handed over through DLPack (numeric, native byte order)."""


def _aligned_copy(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out = aligned_empty(array.nbytes).view(array.dtype).reshape(array.shape)
    np.copyto(out, array)
    return out


def to_tensor(value: Any) -> Any:
    """An eager tensor holding ``value`` (a numpy array, or anything ``tf.constant`` takes):
    numeric arrays share their buffer with the tensor (copied once by numpy when it is
    not aligned, contiguous and writable); strings, empty arrays and other values go
    through ``tf.constant``."""
    if (not isinstance(value, np.ndarray) or value.size == 0
            or value.dtype not in _SHARED_DTYPES):
        return tf.constant(value)
    array = value
    if not (array.flags.c_contiguous and array.flags.writeable
            and data_address(array) % ALIGN_BYTES == 0):
        array = _aligned_copy(array)
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


SHARED_ARRAY_BYTES = 1 << 20
"""Result tensors of at least this many bytes are viewed by numpy (:func:`to_array`)
rather than copied."""

_MAX_ITEMSIZE = max(d.itemsize for d in _SHARED_DTYPES)
"""The widest element viewed (complex128): fewer elements than ``SHARED_ARRAY_BYTES`` over
it are below the threshold whatever the dtype."""


def element_count(tensor: Any) -> int:
    """How many elements an eager tensor holds (an eager tensor answers without building a
    ``TensorShape``, a few times faster; other tensors through their static shape)."""
    count = getattr(tensor, "_num_elements", None)
    return int(count() if count is not None else tensor.shape.num_elements())


_ITEMSIZES: dict[Any, int] = {}


def tensor_nbytes(tensor: Any) -> int:
    """Bytes of a tensor's elements (``DType.size`` per element, as TensorFlow counts them:
    1 for strings and resources), its element size looked up once per dtype."""
    dtype = tensor.dtype
    size = _ITEMSIZES.get(dtype)
    if size is None:
        size = _ITEMSIZES[dtype] = int(dtype.size)
    return element_count(tensor) * size


class _Exported:
    """A tensor seen through the DLPack protocol by ``np.from_dlpack``."""

    def __init__(self, tensor: Any) -> None:
        self.tensor = tensor

    def __dlpack__(self, stream: Any = None, **kwargs: Any) -> Any:
        return tf.experimental.dlpack.to_dlpack(self.tensor)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)  # kDLCPU


def to_array(tensor: Any) -> Any:
    """A numpy array of an eager tensor's value (``tensor.numpy()``): a big numeric tensor
    on the CPU is viewed read-only, with no copy; anything else is copied. Scalar strings
    come back as bytes, as from ``numpy()``."""
    count = element_count(tensor)
    if count * _MAX_ITEMSIZE < SHARED_ARRAY_BYTES:
        return tensor.numpy()  # small, whatever its dtype: copied (most results, every step)
    dtype = tensor.dtype
    if (dtype != tf.string and dtype.is_numpy_compatible
            and np.dtype(dtype.as_numpy_dtype) in _SHARED_DTYPES
            and count * dtype.size >= SHARED_ARRAY_BYTES
            and "CPU" in tensor.device):
        try:
            return np.from_dlpack(_Exported(tensor))
        except (BufferError, RuntimeError, TypeError, ValueError):
            pass  # a layout DLPack cannot carry: copy
    return tensor.numpy()


def to_numpy(tensor: Any) -> np.ndarray[Any, Any]:
    """A TensorFlow tensor as a numpy array (:func:`to_array`); a scalar string becomes a
    0-d object array."""
    value = to_array(tensor)
    if isinstance(value, bytes):
        out = np.empty((), dtype=object)
        out[()] = value
        return out
    return np.asarray(value)


def result_view(tensor: Any) -> np.ndarray[Any, Any]:
    """A numeric eager tensor's value as a read-only numpy array over the tensor's own buffer
    (no copy, whatever the size): TensorFlow copies a shared buffer before it writes one, so
    the array keeps the value it had. For results that are only read (a fused call's return
    values, encoded into the reply)."""
    array = tensor._numpy()
    if type(array) is not np.ndarray:  # a scalar's value comes as a numpy scalar
        array = np.array(array)
    array.flags.writeable = False
    return array  # type: ignore[no-any-return]


_SCALARS: dict[tuple[float, float], Any] = {}
_MAX_SCALARS = 64


def scalar_float64(value: float) -> Any:
    """A float64 scalar tensor of ``value``; the few values a training loop uses (its scale
    factors) are made once and shared (tensors are immutable), saving an eager op a call."""
    key = (value, math.copysign(1.0, value))  # 0.0 and -0.0 are equal keys otherwise
    tensor = _SCALARS.get(key)
    if tensor is None:
        # (not tf.constant: TensorFlow's own cache of scalars takes -0.0 for a 0.0 made before)
        tensor = to_tensor(np.array(value, np.float64))
        if len(_SCALARS) < _MAX_SCALARS:
            _SCALARS[key] = tensor
    return tensor
