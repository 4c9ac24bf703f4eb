"""The wire layer: element types, the tensor codec and gRPC error translation."""

from gentf.wire._codec import (
    decode_tensor,
    encode_tensor,
    fill_request_tensor,
    fill_tensor,
    tensor_nbytes,
)
from gentf.wire._dtypes import DTYPES, DType, as_dtype

WIRE_VERSION = 2
"""Revision of the ``gentf.v1`` wire protocol this package speaks (raised by additive changes;
a worker reports its own and the oldest client revision it serves)."""

__all__ = ["DTYPES", "WIRE_VERSION", "DType", "as_dtype", "decode_tensor", "encode_tensor",
           "fill_request_tensor", "fill_tensor", "tensor_nbytes"]
