"""Tensors on the wire: numpy arrays to ``gentf.v1.Tensor`` messages and back.

Elements travel as raw bytes, row-major and little-endian; strings as a list of byte
strings. Encoding writes into a message field in place (the fast path for large
tensors); decoding reads the bytes field once. A tensor whose ``blob_id`` is set has its
elements in a blob (see ``gentf.wire._blobs``): decoding takes the blob's buffer and wraps
it with no copy.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from gentf.v1 import tensor_pb2
from gentf.wire._array_address import data_address
from gentf.wire._blobs import hold_outgoing, take_blob
from gentf.wire._dtypes import DTYPES, DType, as_dtype

__all__ = ["ALIGN_BYTES", "HELD_TENSOR_BYTES", "aligned_empty", "decode_tensor", "encode_tensor", "fill_request_tensor",
           "fill_tensor", "tensor_nbytes", "wire_order"]

HELD_TENSOR_BYTES = 64 << 10
"""A request tensor of at least this many bytes is held beside its message
(:func:`fill_request_tensor`) rather than copied into it: sent as a blob, as an attachment
of a direct call, or copied into the message only as it is sent."""


_LITTLE_ENDIAN = sys.byteorder == "little"
"""Native numpy dtypes are the wire's (little-endian) ones."""

ALIGN_BYTES = 64
"""The alignment of the buffers :func:`decode_tensor` copies into: TensorFlow requires it of
a tensor buffer it did not allocate (Eigen's largest, for AVX-512), so a worker hands such an
array to TensorFlow with no further copy."""


def aligned_empty(nbytes: int) -> np.ndarray[Any, Any]:
    """A new writable uint8 array of ``nbytes`` whose first byte is 64-byte aligned."""
    raw = np.empty(nbytes + ALIGN_BYTES, dtype=np.uint8)
    start = -data_address(raw) % ALIGN_BYTES
    return raw[start:start + nbytes]


def fill_tensor(message: tensor_pb2.Tensor, value: Any, dtype: DType | None = None) -> None:
    """Writes ``value`` (array-like) into ``message``, converting to ``dtype`` if given.

    Raises TypeError when the value cannot be represented with the dtype.
    """
    arr = _as_array(value, dtype)
    d = as_dtype(arr.dtype) if dtype is None else dtype
    message.dtype = d.enum  # type: ignore[assignment]
    message.shape[:] = arr.shape
    if message.blob_id:
        message.blob_id = ""
    if d.name == "string":
        message.string_val[:] = [_as_bytes(x) for x in arr.reshape(-1)]
        message.content = b""
        return
    message.content = wire_order(arr).tobytes()


def fill_request_tensor(message: tensor_pb2.Tensor, value: Any,
                        dtype: DType | None = None) -> None:
    """:func:`fill_tensor` for a tensor of a request the client is about to send: a numeric
    tensor of at least :data:`HELD_TENSOR_BYTES` keeps its elements in a held buffer
    (:func:`gentf.wire._blobs.hold_outgoing`) named by ``blob_id``, which the transport
    sends as a blob, or inline, without copying it into the message first."""
    arr = _as_array(value, dtype)
    d = as_dtype(arr.dtype) if dtype is None else dtype
    if d.name == "string" or arr.nbytes < HELD_TENSOR_BYTES:
        fill_tensor(message, arr, dtype)
        return
    message.dtype = d.enum  # type: ignore[assignment]
    message.shape[:] = arr.shape
    message.content = b""
    message.blob_id = hold_outgoing(wire_order(arr).reshape(-1).view(np.uint8))


def wire_order(arr: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``arr`` row-major and little-endian (itself when it already is)."""
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return np.ascontiguousarray(arr)


def encode_tensor(value: Any, dtype: DType | None = None) -> tensor_pb2.Tensor:
    """Returns a new ``Tensor`` message holding ``value``."""
    message = tensor_pb2.Tensor()
    fill_tensor(message, value, dtype)
    return message


def tensor_nbytes(message: tensor_pb2.Tensor) -> int:
    """Bytes of a wire tensor's elements from its dtype and shape, its content unread; 0 for
    strings and for a dtype or shape that is not valid."""
    if not message.dtype or message.string_val:
        return 0
    count = 1
    for d in message.shape:
        count *= int(d)
    try:
        return count * as_dtype(int(message.dtype)).as_numpy_dtype.itemsize
    except (ValueError, TypeError, KeyError):
        return 0


def decode_tensor(message: tensor_pb2.Tensor, aligned: bool = True) -> np.ndarray[Any, Any]:
    """Returns a writable numpy array with the message's dtype, shape and elements (native
    byte order; in a 64-byte aligned buffer unless ``aligned`` is False: a worker hands the
    array to TensorFlow, a client only reads it).

    With ``blob_id`` set, the elements come from that blob (taken, so a blob decodes once).
    Raises ValueError when the byte count does not match the shape or the blob is unknown.
    """
    types = _NUMERIC.get(message.dtype)
    if types is None:
        types = _late_numeric(message.dtype)
        if types is None:
            return _decode_other(message)
    npd, wire_dtype, name = types
    shape = tuple(message.shape)  # ints already
    blob_id = message.blob_id
    content = take_blob(blob_id) if blob_id else message.content
    count = math.prod(shape)
    size = memoryview(content).nbytes
    if size != count * npd.itemsize:
        raise ValueError(
            f"tensor of dtype {name} and shape {list(shape)} needs "
            f"{count * npd.itemsize} bytes, got {size}"
        )
    arr = np.frombuffer(content, dtype=wire_dtype, count=count)
    if blob_id and arr.flags.writeable and wire_dtype == npd:
        return arr.reshape(shape)  # the blob's buffer is this array's alone: no copy
    if not aligned:
        return np.array(arr, dtype=npd).reshape(shape)  # one copy, wherever numpy puts it
    out = aligned_empty(count * npd.itemsize).view(npd)
    np.copyto(out, arr)  # one copy, into a buffer TensorFlow can take as it is
    return out.reshape(shape)


def _numeric(d: DType) -> tuple[np.dtype[Any], np.dtype[Any], str]:
    npd = d.as_numpy_dtype
    return npd, npd if _LITTLE_ENDIAN or npd.itemsize == 1 else npd.newbyteorder("<"), d.name


_NUMERIC: dict[int, tuple[np.dtype[Any], np.dtype[Any], str]] = {
    d.enum: _numeric(d) for d in DTYPES.values() if d._np is not None and d.name != "string"}
"""Wire enum -> (native numpy dtype, the wire's little-endian one, the name) of the numeric
types (bfloat16 added at its first tensor)."""


def _late_numeric(enum: int) -> tuple[np.dtype[Any], np.dtype[Any], str] | None:
    """:data:`_NUMERIC`'s entry for a type whose numpy dtype is looked up at first use
    (bfloat16), added there; None for any other type missing from it."""
    try:
        d = as_dtype(int(enum))
        types = _numeric(d) if d.name != "string" else None
    except TypeError:
        return None
    if types is not None:
        _NUMERIC[d.enum] = types
    return types


def _decode_other(message: tensor_pb2.Tensor) -> np.ndarray[Any, Any]:
    """:func:`decode_tensor` of a string tensor; ValueError or TypeError for a tensor with
    no dtype, an unknown one or one that carries no data."""
    d = as_dtype(int(message.dtype)) if message.dtype else None
    if d is None:
        raise ValueError("tensor has no dtype")
    if d.name != "string":  # resource, variant
        raise TypeError(f"dtype {d.name} has no numpy equivalent")
    values = list(message.string_val)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(tuple(message.shape))


def _as_array(value: Any, dtype: DType | None) -> np.ndarray[Any, Any]:
    if dtype is not None and dtype.name == "string":
        return np.asarray(value, dtype=object)
    if dtype is None:
        arr = np.asarray(value)
        if arr.dtype.kind in ("U", "S"):
            return arr.astype(object)
        return arr
    return np.asarray(value, dtype=dtype.as_numpy_dtype)


def _as_bytes(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    raise TypeError(f"string tensor element must be str or bytes, got {type(x).__name__}")
