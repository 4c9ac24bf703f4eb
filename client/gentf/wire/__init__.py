"""The wire layer: element types, the tensor codec and gRPC error translation."""

from gentf.wire._codec import decode_tensor, encode_tensor, fill_tensor
from gentf.wire._dtypes import DTYPES, DType, as_dtype

__all__ = ["DTYPES", "DType", "as_dtype", "decode_tensor", "encode_tensor", "fill_tensor"]
