"""Conversions between gentf wire messages and TensorFlow's protos and tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
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


def attr_to_tf(value: graph_pb2.AttrValue) -> attr_value_pb2.AttrValue:
    """Wire attribute value to TensorFlow's AttrValue; ValueError for an unset value."""
    kind = value.WhichOneof("value")
    out = attr_value_pb2.AttrValue()
    if kind == "s":
        out.s = value.s
    elif kind == "i":
        out.i = value.i
    elif kind == "f":
        out.f = value.f
    elif kind == "b":
        out.b = value.b
    elif kind == "type":
        out.type = int(value.type)
    elif kind == "shape":
        out.shape.CopyFrom(shape_to_tf(value.shape))
    elif kind == "tensor":
        out.tensor.CopyFrom(_tensor_to_tf(value.tensor))
    elif kind == "list":
        lst = value.list
        out.list.SetInParent()
        out.list.s.extend(lst.s)
        out.list.i.extend(lst.i)
        out.list.f.extend(lst.f)
        out.list.b.extend(lst.b)
        out.list.type.extend(int(t) for t in lst.type)
        out.list.shape.extend(shape_to_tf(s) for s in lst.shape)
        out.list.tensor.extend(_tensor_to_tf(t) for t in lst.tensor)
    else:
        raise ValueError("attribute value is unset")
    return out


def attr_from_tf(value: attr_value_pb2.AttrValue) -> graph_pb2.AttrValue:
    """TensorFlow's AttrValue to a wire attribute value (func and placeholder kinds are dropped)."""
    kind = value.WhichOneof("value")
    out = graph_pb2.AttrValue()
    if kind == "s":
        out.s = value.s
    elif kind == "i":
        out.i = value.i
    elif kind == "f":
        out.f = value.f
    elif kind == "b":
        out.b = value.b
    elif kind == "type":
        out.type = int(value.type)  # type: ignore[assignment]
    elif kind == "shape":
        out.shape.CopyFrom(shape_from_tf(value.shape))
    elif kind == "tensor":
        out.tensor.CopyFrom(encode_tensor(tf.make_ndarray(value.tensor)))
    elif kind == "list":
        lst = value.list
        out.list.SetInParent()
        out.list.s.extend(lst.s)
        out.list.i.extend(lst.i)
        out.list.f.extend(lst.f)
        out.list.b.extend(lst.b)
        out.list.type.extend(int(t) for t in lst.type)
        out.list.shape.extend(shape_from_tf(s) for s in lst.shape)
        out.list.tensor.extend(encode_tensor(tf.make_ndarray(t)) for t in lst.tensor)
    return out


def node_to_tf(node: graph_pb2.NodeDef) -> node_def_pb2.NodeDef:
    """Wire node to TensorFlow's NodeDef (the initial value and source stay behind)."""
    out = node_def_pb2.NodeDef(name=node.name, op=node.op)
    out.input.extend(node.inputs)
    for key, value in node.attrs.items():
        out.attr[key].CopyFrom(attr_to_tf(value))
    return out


def as_numpy(t: tensor_pb2.Tensor) -> np.ndarray[Any, Any]:
    """Decodes a wire tensor (ValueError when its bytes do not match its shape)."""
    return decode_tensor(t)
