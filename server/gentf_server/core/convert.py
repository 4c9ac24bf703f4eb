"""Conversions between gentf wire messages and TensorFlow's protos and tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
from gentf.v1 import graph_pb2, tensor_pb2
from gentf.wire import decode_tensor, encode_tensor
from tensorflow.core.framework import attr_value_pb2, node_def_pb2, tensor_shape_pb2

__all__ = [
    "attr_from_tf",
    "attr_to_tf",
    "node_to_tf",
    "shape_from_tf",
    "shape_to_tf",
]


def shape_to_tf(shape: tensor_pb2.TensorShape) -> tensor_shape_pb2.TensorShapeProto:
    """Wire shape to TensorFlow's TensorShapeProto."""
    out = tensor_shape_pb2.TensorShapeProto(unknown_rank=shape.unknown_rank)
    for d in shape.dims:
        out.dim.add(size=int(d))
    return out


def shape_from_tf(shape: Any) -> tensor_pb2.TensorShape:
    """A TensorShapeProto or tf.TensorShape to a wire shape (-1 for unknown dimensions)."""
    if isinstance(shape, tensor_shape_pb2.TensorShapeProto):
        if shape.unknown_rank:
            return tensor_pb2.TensorShape(unknown_rank=True)
        return tensor_pb2.TensorShape(dims=[d.size for d in shape.dim])
    ts = tf.TensorShape(shape)
    if ts.rank is None:
        return tensor_pb2.TensorShape(unknown_rank=True)
    return tensor_pb2.TensorShape(dims=[-1 if d is None else int(d) for d in ts.as_list()])


def _tensor_to_tf(t: tensor_pb2.Tensor) -> Any:
    return tf.make_tensor_proto(decode_tensor(t), dtype=tf.as_dtype(int(t.dtype)))


def _tensor_from_tf(t: Any) -> tensor_pb2.Tensor:
    return encode_tensor(tf.make_ndarray(t))


def _convert_attr(value: Any, out: Any, shape: Callable[[Any], Any], tensor: Callable[[Any], Any]) -> bool:
    """Copies an attribute value between the two AttrValue kinds (same field names), with
    ``shape`` and ``tensor`` converting those; False when the value is unset (or a kind
    the other side lacks, such as a function)."""
    kind = value.WhichOneof("value")
    if kind in ("s", "i", "f", "b"):
        setattr(out, kind, getattr(value, kind))
    elif kind == "type":
        out.type = int(value.type)
    elif kind == "shape":
        out.shape.CopyFrom(shape(value.shape))
    elif kind == "tensor":
        out.tensor.CopyFrom(tensor(value.tensor))
    elif kind == "list":
        src, dst = value.list, out.list
        dst.SetInParent()
        for field in ("s", "i", "f", "b"):
            getattr(dst, field).extend(getattr(src, field))
        dst.type.extend(int(t) for t in src.type)
        dst.shape.extend(shape(x) for x in src.shape)
        dst.tensor.extend(tensor(x) for x in src.tensor)
    else:
        return False
    return True


def attr_to_tf(value: graph_pb2.AttrValue) -> attr_value_pb2.AttrValue:
    """Wire attribute value to TensorFlow's AttrValue; ValueError for an unset value."""
    out = attr_value_pb2.AttrValue()
    if not _convert_attr(value, out, shape_to_tf, _tensor_to_tf):
        raise ValueError("attribute value is unset")
    return out


def attr_from_tf(value: attr_value_pb2.AttrValue) -> graph_pb2.AttrValue:
    """TensorFlow's AttrValue to a wire attribute value (func and placeholder kinds are dropped)."""
    out = graph_pb2.AttrValue()
    _convert_attr(value, out, shape_from_tf, _tensor_from_tf)
    return out


def node_to_tf(node: graph_pb2.NodeDef) -> node_def_pb2.NodeDef:
    """Wire node to TensorFlow's NodeDef (the initial value and source stay behind)."""
    out = node_def_pb2.NodeDef(name=node.name, op=node.op)
    out.input.extend(node.inputs)
    for key, value in node.attrs.items():
        out.attr[key].CopyFrom(attr_to_tf(value))
    return out
