"""Attribute conversion between gentf wire AttrValues and TensorFlow's AttrValue protos.

TensorFlow is imported lazily (``load_tensorflow``), when a conversion runs."""

from __future__ import annotations

import importlib
from typing import Any

from gentf.errors import InvalidArgumentError
from gentf.v1 import graph_pb2, tensor_pb2
from gentf.wire import decode_tensor, encode_tensor

__all__ = ["attr_from_tf", "attr_to_tf", "load_tensorflow", "tf_module"]


def load_tensorflow() -> Any:
    """The locally installed ``tensorflow`` module, imported now (ImportError explains)."""
    try:
        return importlib.import_module("tensorflow")
    except ImportError as exc:
        raise ImportError("gentf.interop needs TensorFlow installed locally "
                          "(the rest of gentf does not)") from exc


def tf_module(name: str) -> Any:
    """A submodule of TensorFlow, e.g. ``"core.framework.attr_value_pb2"``, imported now."""
    return importlib.import_module(f"tensorflow.{name}")


def _shape_to_tf(tf: Any, shape: tensor_pb2.TensorShape) -> Any:
    out = tf_module("core.framework.tensor_shape_pb2").TensorShapeProto(unknown_rank=shape.unknown_rank)
    for d in shape.dims:
        out.dim.add(size=int(d))
    return out


def _shape_from_tf(shape: Any) -> tensor_pb2.TensorShape:
    if shape.unknown_rank:
        return tensor_pb2.TensorShape(unknown_rank=True)
    return tensor_pb2.TensorShape(dims=[d.size for d in shape.dim])


def attr_to_tf(tf: Any, value: graph_pb2.AttrValue) -> Any:
    """A wire AttrValue as TensorFlow's ``AttrValue`` proto."""
    kind = value.WhichOneof("value")
    out = tf_module("core.framework.attr_value_pb2").AttrValue()
    if kind in ("s", "i", "f", "b"):
        setattr(out, kind, getattr(value, kind))
    elif kind == "type":
        out.type = int(value.type)
    elif kind == "shape":
        out.shape.CopyFrom(_shape_to_tf(tf, value.shape))
    elif kind == "tensor":
        arr = decode_tensor(value.tensor)
        out.tensor.CopyFrom(tf.make_tensor_proto(arr, dtype=tf.as_dtype(int(value.tensor.dtype))))
    elif kind == "list":
        lst = out.list
        lst.SetInParent()
        lst.s.extend(value.list.s)
        lst.i.extend(value.list.i)
        lst.f.extend(value.list.f)
        lst.b.extend(value.list.b)
        lst.type.extend(int(t) for t in value.list.type)
        for s in value.list.shape:
            lst.shape.add().CopyFrom(_shape_to_tf(tf, s))
        for t in value.list.tensor:
            lst.tensor.add().CopyFrom(tf.make_tensor_proto(decode_tensor(t), dtype=tf.as_dtype(int(t.dtype))))
    else:
        raise InvalidArgumentError(f"cannot export an unset attribute value ({kind})")
    return out


def attr_from_tf(tf: Any, value: Any, where: str) -> graph_pb2.AttrValue:
    """TensorFlow's ``AttrValue`` as a wire AttrValue; InvalidArgumentError for function
    attributes (gentf graphs carry no function library)."""
    kind = value.WhichOneof("value")
    out = graph_pb2.AttrValue()
    if kind in ("s", "i", "f", "b"):
        setattr(out, kind, getattr(value, kind))
    elif kind == "type":
        out.type = int(value.type)  # type: ignore[assignment]
    elif kind == "shape":
        out.shape.CopyFrom(_shape_from_tf(value.shape))
    elif kind == "tensor":
        arr = tf.make_ndarray(value.tensor)
        out.tensor.CopyFrom(encode_tensor(arr))
    elif kind == "list":
        lst = out.list
        lst.SetInParent()
        if value.list.func:
            raise InvalidArgumentError(f"{where}: function-valued attributes are not supported")
        lst.s.extend(value.list.s)
        lst.i.extend(value.list.i)
        lst.f.extend(value.list.f)
        lst.b.extend(value.list.b)
        lst.type.extend(int(t) for t in value.list.type)
        for s in value.list.shape:
            lst.shape.add().CopyFrom(_shape_from_tf(s))
        for t in value.list.tensor:
            lst.tensor.add().CopyFrom(encode_tensor(tf.make_ndarray(t)))
    else:
        raise InvalidArgumentError(
            f"{where}: attribute of kind {kind!r} is not supported (gentf graphs carry no "
            "function library; inline tf.function calls first)")
    return out
