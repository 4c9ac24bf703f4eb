"""TensorFlow's names for the ops models use, built on ``apply_op``.

Each function mirrors the TensorFlow 2 Python function of the same name (graph mode):
same arguments where they matter, same broadcasting and dtype rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import DefaultName, Operation, Tensor
from gentf.wire import as_dtype

__all__ = [
    "abs",
    "add",
    "cast",
    "concat",
    "divide",
    "exp",
    "expand_dims",
    "fill",
    "group",
    "identity",
    "log",
    "log_softmax",
    "matmul",
    "maximum",
    "minimum",
    "multiply",
    "negative",
    "no_op",
    "ones",
    "ones_like",
    "placeholder",
    "pow",
    "rank",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_sum",
    "relu",
    "reshape",
    "shape",
    "sigmoid",
    "softmax",
    "sqrt",
    "square",
    "squeeze",
    "stop_gradient",
    "subtract",
    "tanh",
    "transpose",
    "zeros",
    "zeros_like",
]

_abs = abs
_pow = pow


def _t(x: Any, dtype: Any = None) -> Tensor:
    return convert_to_tensor(x, dtype=dtype)


def _binary(op_type: str, x: Any, y: Any, name: str | None) -> Tensor:
    """Converts the non-tensor side to the tensor side's dtype, as TensorFlow does."""
    x_is = isinstance(x, Tensor) or hasattr(x, "_as_tensor")
    y_is = isinstance(y, Tensor) or hasattr(y, "_as_tensor")
    if x_is and not y_is:
        xt = _t(x)
        return apply_op(op_type, [xt, _t(y, xt.dtype)], name=name).outputs[0]
    if y_is and not x_is:
        yt = _t(y)
        return apply_op(op_type, [_t(x, yt.dtype), yt], name=name).outputs[0]
    return apply_op(op_type, [_t(x), _t(y)], name=name).outputs[0]


def _unary(op_type: str, x: Any, name: str | None) -> Tensor:
    return apply_op(op_type, [_t(x)], name=name).outputs[0]


def placeholder(dtype: Any, shape: Sequence[int | None] | None = None, name: str | None = None) -> Tensor:
    """``tf.placeholder(dtype, shape=None, name=None)``: an argument fed at run time.

    ``shape=None`` accepts any shape; ``None`` entries accept any size in that dimension.
    """
    d = as_dtype(dtype)
    shape_attr = None if shape is None else [None if s is None or s == -1 else int(s) for s in shape]
    op = apply_op("Placeholder", [], {"dtype": d, "shape": shape_attr}, name=name or DefaultName("Placeholder"))
    out = op.outputs[0]
    out.set_shape(None if shape_attr is None else tuple(shape_attr))
    return out


def zeros(shape: Sequence[int], dtype: Any = "float32", name: str | None = None) -> Tensor:
    """``tf.zeros(shape, dtype=float32)``."""
    d = as_dtype(dtype)
    return constant(np.zeros(tuple(shape), dtype=d.as_numpy_dtype), dtype=d, name=name or DefaultName("zeros"))


def ones(shape: Sequence[int], dtype: Any = "float32", name: str | None = None) -> Tensor:
    """``tf.ones(shape, dtype=float32)``."""
    d = as_dtype(dtype)
    return constant(np.ones(tuple(shape), dtype=d.as_numpy_dtype), dtype=d, name=name or DefaultName("ones"))


def fill(dims: Any, value: Any, name: str | None = None) -> Tensor:
    """``tf.fill(dims, value)``."""
    return apply_op("Fill", [_t(dims, "int32") if not isinstance(dims, Tensor) else dims, value],
                    name=name).outputs[0]


def zeros_like(x: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """``tf.zeros_like(x)``."""
    xt = _t(x)
    out = apply_op("ZerosLike", [xt], name=name).outputs[0]
    return out if dtype is None else cast(out, dtype)


def ones_like(x: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """``tf.ones_like(x)``."""
    xt = _t(x)
    out = apply_op("OnesLike", [xt], name=name).outputs[0]
    return out if dtype is None else cast(out, dtype)


def add(x: Any, y: Any, name: str | None = None) -> Tensor:
    """``tf.add(x, y)``: elementwise sum with broadcasting."""
    return _binary("AddV2", x, y, name)


def subtract(x: Any, y: Any, name: str | None = None) -> Tensor:
    """``tf.subtract(x, y)``."""
    return _binary("Sub", x, y, name)


def multiply(x: Any, y: Any, name: str | None = None) -> Tensor:
    """``tf.multiply(x, y)``."""
    return _binary("Mul", x, y, name)


def divide(x: Any, y: Any, name: str | None = None) -> Tensor:
    """``tf.divide(x, y)``: true division; integers are divided as float64 (TensorFlow's rule)."""
    xt = _t(x) if isinstance(x, Tensor) or hasattr(x, "_as_tensor") else None
    yt = _t(y) if isinstance(y, Tensor) or hasattr(y, "_as_tensor") else None
    ref = xt if xt is not None else yt
    if ref is not None and ref.dtype.is_integer:
        target = "float32" if ref.dtype.itemsize <= 2 else "float64"
        return _binary("RealDiv", cast(x if xt is None else xt, target), cast(y if yt is None else yt, target), name)
    return _binary("RealDiv", x, y, name)


def maximum(x: Any, y: Any, name: str | None = None) -> Tensor:
    """``tf.maximum(x, y)``."""
    return _binary("Maximum", x, y, name)


def minimum(x: Any, y: Any, name: str | None = None) -> Tensor:
    """``tf.minimum(x, y)``."""
    return _binary("Minimum", x, y, name)


def pow(x: Any, y: Any, name: str | None = None) -> Tensor:
    """``tf.pow(x, y)``."""
    return _binary("Pow", x, y, name)


def negative(x: Any, name: str | None = None) -> Tensor:
    """``tf.negative(x)``."""
    return _unary("Neg", x, name)


def abs(x: Any, name: str | None = None) -> Tensor:
    """``tf.abs(x)``."""
    return _unary("Abs", x, name)


def exp(x: Any, name: str | None = None) -> Tensor:
    """``tf.exp(x)``."""
    return _unary("Exp", x, name)


def log(x: Any, name: str | None = None) -> Tensor:
    """``tf.math.log(x)``."""
    return _unary("Log", x, name)


def sqrt(x: Any, name: str | None = None) -> Tensor:
    """``tf.sqrt(x)``."""
    return _unary("Sqrt", x, name)


def square(x: Any, name: str | None = None) -> Tensor:
    """``tf.square(x)``."""
    return _unary("Square", x, name)


def tanh(x: Any, name: str | None = None) -> Tensor:
    """``tf.tanh(x)``."""
    return _unary("Tanh", x, name)


def sigmoid(x: Any, name: str | None = None) -> Tensor:
    """``tf.sigmoid(x)``."""
    return _unary("Sigmoid", x, name)


def relu(features: Any, name: str | None = None) -> Tensor:
    """``tf.nn.relu(features)``."""
    return _unary("Relu", features, name)


def identity(x: Any, name: str | None = None) -> Tensor:
    """``tf.identity(x)``."""
    return _unary("Identity", x, name)


def stop_gradient(x: Any, name: str | None = None) -> Tensor:
    """``tf.stop_gradient(x)``: the value of ``x``; no gradient flows through it."""
    return _unary("StopGradient", x, name)


def cast(x: Any, dtype: Any, name: str | None = None) -> Tensor:
    """``tf.cast(x, dtype)``."""
    xt = _t(x)
    d = as_dtype(dtype)
    if xt.dtype is d:
        return xt
    return apply_op("Cast", [xt], {"DstT": d}, name=name).outputs[0]


def shape(x: Any, out_type: Any = "int32", name: str | None = None) -> Tensor:
    """``tf.shape(x)``: the dynamic shape as a 1-d tensor."""
    return apply_op("Shape", [_t(x)], {"out_type": as_dtype(out_type)}, name=name).outputs[0]


def rank(x: Any, name: str | None = None) -> Tensor:
    """``tf.rank(x)``: the number of dimensions as an int32 scalar."""
    return apply_op("Rank", [_t(x)], name=name).outputs[0]


def _known_rank(x: Tensor) -> int | None:
    return None if x.shape is None else len(x.shape)


def _axes(x: Tensor, axis: Any) -> Tensor:
    if axis is not None:
        return _t(np.asarray(axis, dtype=np.int32).reshape(-1) if not isinstance(axis, Tensor) else axis)
    r = _known_rank(x)
    if r is not None:
        return constant(np.arange(r, dtype=np.int32))
    return apply_op("Range", [constant(np.int32(0)), rank(x), constant(np.int32(1))]).outputs[0]


def _reduce(op_type: str, x: Any, axis: Any, keepdims: bool, name: str | None) -> Tensor:
    xt = _t(x)
    return apply_op(op_type, [xt, _axes(xt, axis)], {"keep_dims": bool(keepdims)}, name=name).outputs[0]


def reduce_sum(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """``tf.reduce_sum(x, axis=None, keepdims=False)``; ``axis=None`` reduces every dimension."""
    return _reduce("Sum", input_tensor, axis, keepdims, name)


def reduce_mean(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """``tf.reduce_mean(x, axis=None, keepdims=False)``."""
    return _reduce("Mean", input_tensor, axis, keepdims, name)


def reduce_max(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """``tf.reduce_max(x, axis=None, keepdims=False)``."""
    return _reduce("Max", input_tensor, axis, keepdims, name)


def reduce_min(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """``tf.reduce_min(x, axis=None, keepdims=False)``."""
    return _reduce("Min", input_tensor, axis, keepdims, name)


def reduce_prod(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """``tf.reduce_prod(x, axis=None, keepdims=False)``."""
    return _reduce("Prod", input_tensor, axis, keepdims, name)


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False,
           name: str | None = None) -> Tensor:
    """``tf.matmul(a, b)``: MatMul for matrices, BatchMatMulV2 when a rank above 2 is known."""
    at = _t(a) if isinstance(a, Tensor) or hasattr(a, "_as_tensor") else None
    bt = _t(b) if isinstance(b, Tensor) or hasattr(b, "_as_tensor") else None
    ref = at if at is not None else bt
    at = at if at is not None else _t(a, ref.dtype if ref is not None else None)
    bt = bt if bt is not None else _t(b, at.dtype)
    ranks = [_known_rank(at), _known_rank(bt)]
    if any(r is not None and r > 2 for r in ranks):
        return apply_op("BatchMatMulV2", [at, bt], {"adj_x": transpose_a, "adj_y": transpose_b},
                        name=name).outputs[0]
    return apply_op("MatMul", [at, bt], {"transpose_a": transpose_a, "transpose_b": transpose_b},
                    name=name).outputs[0]


def reshape(tensor: Any, shape: Any, name: str | None = None) -> Tensor:
    """``tf.reshape(tensor, shape)``; one dimension may be -1."""
    s = shape if isinstance(shape, Tensor) else constant(np.asarray(shape, dtype=np.int32))
    out = apply_op("Reshape", [_t(tensor), s], name=name).outputs[0]
    if not isinstance(shape, Tensor) and all(int(d) >= 0 for d in np.asarray(shape).reshape(-1)):
        out.set_shape(tuple(int(d) for d in np.asarray(shape).reshape(-1)))
    return out


def squeeze(input: Any, axis: Any = None, name: str | None = None) -> Tensor:
    """``tf.squeeze(x, axis=None)``: removes size-1 dimensions (those in ``axis`` if given)."""
    dims = [] if axis is None else [int(a) for a in np.asarray(axis).reshape(-1)]
    return apply_op("Squeeze", [_t(input)], {"squeeze_dims": dims}, name=name).outputs[0]


def expand_dims(input: Any, axis: int, name: str | None = None) -> Tensor:
    """``tf.expand_dims(x, axis)``: inserts a size-1 dimension at ``axis``."""
    return apply_op("ExpandDims", [_t(input), constant(np.int32(axis))], name=name).outputs[0]


def transpose(a: Any, perm: Any = None, name: str | None = None) -> Tensor:
    """``tf.transpose(a, perm=None)``: ``perm=None`` reverses the dimensions."""
    at = _t(a)
    if perm is None:
        r = _known_rank(at)
        if r is not None:
            p = constant(np.arange(r - 1, -1, -1, dtype=np.int32))
        else:
            last = apply_op("Sub", [rank(at), constant(np.int32(1))]).outputs[0]
            p = apply_op("Range", [last, constant(np.int32(-1)), constant(np.int32(-1))]).outputs[0]
    else:
        p = perm if isinstance(perm, Tensor) else constant(np.asarray(perm, dtype=np.int32))
    return apply_op("Transpose", [at, p], name=name).outputs[0]


def concat(values: Sequence[Any], axis: int, name: str | None = None) -> Tensor:
    """``tf.concat(values, axis)``."""
    tensors = [_t(v) for v in values]
    return apply_op("ConcatV2", [tensors, constant(np.int32(axis))], name=name).outputs[0]


def _along_last(op_type: str, logits: Any, axis: int, name: str | None) -> Tensor:
    x = _t(logits)
    r = _known_rank(x)
    if axis == -1 or (r is not None and axis == r - 1):
        return apply_op(op_type, [x], name=name).outputs[0]
    if r is None:
        raise ValueError(f"{op_type} along axis {axis} needs a tensor of known rank")
    axis = axis % r
    perm = list(range(r))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    moved = transpose(x, perm)
    return transpose(apply_op(op_type, [moved]).outputs[0], perm, name=name)


def softmax(logits: Any, axis: int = -1, name: str | None = None) -> Tensor:
    """``tf.nn.softmax(logits, axis=-1)``."""
    return _along_last("Softmax", logits, axis, name)


def log_softmax(logits: Any, axis: int = -1, name: str | None = None) -> Tensor:
    """``tf.nn.log_softmax(logits, axis=-1)``."""
    return _along_last("LogSoftmax", logits, axis, name)


def no_op(name: str | None = None) -> Operation:
    """``tf.no_op()``: an operation that does nothing."""
    return apply_op("NoOp", [], name=name)


def group(*inputs: Any, name: str | None = None) -> Operation:
    """``tf.group(*inputs)``: one operation that runs every input (tensors, variables, ops)."""
    ops: list[Operation] = []
    for item in inputs:
        items = item if isinstance(item, (list, tuple)) else [item]
        for x in items:
            if isinstance(x, Operation):
                ops.append(x)
            elif isinstance(x, Tensor):
                ops.append(x.op)
            elif hasattr(x, "_as_tensor"):
                ops.append(x._as_tensor().op)
            else:
                raise TypeError(f"tf.group takes tensors and operations, got {type(x).__name__}")
    return apply_op("NoOp", [], name=name or DefaultName("group_deps"), control_inputs=ops)


