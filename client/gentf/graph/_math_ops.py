"""TensorFlow's elementwise math, comparisons, logical ops, reductions and scans
(``tf.math``), by TensorFlow 2's names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import DefaultName, Tensor
from gentf.graph._ops import _axes, _binary, _reduce, _unary, cast, divide, reduce_mean, sqrt
from gentf.graph._raw_ops import op_result
from gentf.wire import as_dtype

__all__ = [
    "acos",
    "acosh",
    "add_n",
    "argmax",
    "argmin",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "ceil",
    "cos",
    "cosh",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "digamma",
    "divide_no_nan",
    "equal",
    "erf",
    "erfc",
    "expm1",
    "floor",
    "floordiv",
    "floormod",
    "greater",
    "greater_equal",
    "invert",
    "is_finite",
    "is_inf",
    "is_nan",
    "less",
    "less_equal",
    "lgamma",
    "log1p",
    "log_sigmoid",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "mod",
    "not_equal",
    "reciprocal",
    "reduce_all",
    "reduce_any",
    "reduce_euclidean_norm",
    "reduce_logsumexp",
    "reduce_std",
    "reduce_variance",
    "round",
    "rsqrt",
    "sign",
    "sin",
    "sinh",
    "softplus",
    "softsign",
    "squared_difference",
    "tan",
    "top_k",
    "truediv",
    "xdivy",
    "xlogy",
]


def _t(x: Any, dtype: Any = None) -> Tensor:
    return convert_to_tensor(x, dtype=dtype)


def _unary_fn(op_type: str, tf_name: str) -> Callable[..., Tensor]:
    def fn(x: Any, name: str | None = None) -> Tensor:
        return _unary(op_type, x, name)

    fn.__name__ = tf_name.rsplit(".", 1)[-1]
    fn.__qualname__ = fn.__name__
    fn.__doc__ = f"``{tf_name}(x)``: elementwise, the ``{op_type}`` op."
    return fn


def _binary_fn(op_type: str, tf_name: str) -> Callable[..., Tensor]:
    def fn(x: Any, y: Any, name: str | None = None) -> Tensor:
        return _binary(op_type, x, y, name)

    fn.__name__ = tf_name.rsplit(".", 1)[-1]
    fn.__qualname__ = fn.__name__
    fn.__doc__ = (f"``{tf_name}(x, y)``: elementwise with broadcasting, the ``{op_type}`` op; "
                  "a Python scalar takes the other side's dtype.")
    return fn


sin = _unary_fn("Sin", "tf.math.sin")
cos = _unary_fn("Cos", "tf.math.cos")
tan = _unary_fn("Tan", "tf.math.tan")
asin = _unary_fn("Asin", "tf.math.asin")
acos = _unary_fn("Acos", "tf.math.acos")
atan = _unary_fn("Atan", "tf.math.atan")
sinh = _unary_fn("Sinh", "tf.math.sinh")
cosh = _unary_fn("Cosh", "tf.math.cosh")
asinh = _unary_fn("Asinh", "tf.math.asinh")
acosh = _unary_fn("Acosh", "tf.math.acosh")
atanh = _unary_fn("Atanh", "tf.math.atanh")
log1p = _unary_fn("Log1p", "tf.math.log1p")
expm1 = _unary_fn("Expm1", "tf.math.expm1")
rsqrt = _unary_fn("Rsqrt", "tf.math.rsqrt")
reciprocal = _unary_fn("Reciprocal", "tf.math.reciprocal")
sign = _unary_fn("Sign", "tf.math.sign")
floor = _unary_fn("Floor", "tf.math.floor")
ceil = _unary_fn("Ceil", "tf.math.ceil")
round = _unary_fn("Round", "tf.math.round")
erf = _unary_fn("Erf", "tf.math.erf")
erfc = _unary_fn("Erfc", "tf.math.erfc")
lgamma = _unary_fn("Lgamma", "tf.math.lgamma")
digamma = _unary_fn("Digamma", "tf.math.digamma")
softplus = _unary_fn("Softplus", "tf.math.softplus")
softsign = _unary_fn("Softsign", "tf.math.softsign")
is_nan = _unary_fn("IsNan", "tf.math.is_nan")
is_inf = _unary_fn("IsInf", "tf.math.is_inf")
is_finite = _unary_fn("IsFinite", "tf.math.is_finite")
logical_not = _unary_fn("LogicalNot", "tf.math.logical_not")
invert = _unary_fn("Invert", "tf.bitwise.invert")

atan2 = _binary_fn("Atan2", "tf.math.atan2")
floordiv = _binary_fn("FloorDiv", "tf.math.floordiv")
floormod = _binary_fn("FloorMod", "tf.math.floormod")
mod = floormod
squared_difference = _binary_fn("SquaredDifference", "tf.math.squared_difference")
divide_no_nan = _binary_fn("DivNoNan", "tf.math.divide_no_nan")
xlogy = _binary_fn("Xlogy", "tf.math.xlogy")
xdivy = _binary_fn("Xdivy", "tf.math.xdivy")
equal = _binary_fn("Equal", "tf.math.equal")
not_equal = _binary_fn("NotEqual", "tf.math.not_equal")
less = _binary_fn("Less", "tf.math.less")
less_equal = _binary_fn("LessEqual", "tf.math.less_equal")
greater = _binary_fn("Greater", "tf.math.greater")
greater_equal = _binary_fn("GreaterEqual", "tf.math.greater_equal")
logical_and = _binary_fn("LogicalAnd", "tf.math.logical_and")
logical_or = _binary_fn("LogicalOr", "tf.math.logical_or")
bitwise_and = _binary_fn("BitwiseAnd", "tf.bitwise.bitwise_and")
bitwise_or = _binary_fn("BitwiseOr", "tf.bitwise.bitwise_or")
bitwise_xor = _binary_fn("BitwiseXor", "tf.bitwise.bitwise_xor")


def logical_xor(x: Any, y: Any, name: str | None = None) -> Tensor:
    """``tf.math.logical_xor(x, y)``: true where exactly one is true."""
    return apply_op("NotEqual", [_t(x, "bool"), _t(y, "bool")], name=name or DefaultName("LogicalXor")).outputs[0]


def truediv(x: Any, y: Any, name: str | None = None) -> Tensor:
    """``tf.math.truediv(x, y)``: same as ``tf.divide``."""
    return divide(x, y, name=name)


def log_sigmoid(x: Any, name: str | None = None) -> Tensor:
    """``tf.math.log_sigmoid(x)``: ``-softplus(-x)``, computed stably."""
    neg = _unary("Neg", x, None)
    return _unary("Neg", _unary("Softplus", neg, None), name or DefaultName("LogSigmoid"))


def add_n(inputs: list[Any], name: str | None = None) -> Tensor:
    """``tf.math.add_n(inputs)``: the elementwise sum of same-shaped tensors."""
    ref = next((v for v in inputs if isinstance(v, Tensor) or hasattr(v, "_as_tensor")), None)
    dtype = _t(ref).dtype if ref is not None else None
    return apply_op("AddN", [[_t(v, dtype) for v in inputs]], name=name).outputs[0]


def reduce_all(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """``tf.reduce_all(x, axis=None, keepdims=False)``: logical and over ``axis``."""
    return _reduce("All", _t(input_tensor, "bool"), axis, keepdims, name)


def reduce_any(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """``tf.reduce_any(x, axis=None, keepdims=False)``: logical or over ``axis``."""
    return _reduce("Any", _t(input_tensor, "bool"), axis, keepdims, name)


def reduce_logsumexp(input_tensor: Any, axis: Any = None, keepdims: bool = False,
                     name: str | None = None) -> Tensor:
    """``tf.reduce_logsumexp(x, axis=None, keepdims=False)``: ``log(sum(exp(x)))``, stably
    (the maximum is subtracted first; its gradient is stopped as in TensorFlow)."""
    x = _t(input_tensor)
    m = _reduce("Max", x, axis, True, None)
    m = apply_op("StopGradient", [apply_op("SelectV2", [
        apply_op("IsFinite", [m]).outputs[0], m, apply_op("ZerosLike", [m]).outputs[0]]).outputs[0]]).outputs[0]
    shifted = _unary("Exp", _binary("Sub", x, m, None), None)
    s = _unary("Log", _reduce("Sum", shifted, axis, True, None), None)
    out = _binary("AddV2", s, m, None)
    if keepdims:
        return _unary("Identity", out, name or DefaultName("reduce_logsumexp"))
    return apply_op("Squeeze", [out], {"squeeze_dims": _squeeze_dims(x, axis)},
                    name=name or DefaultName("reduce_logsumexp")).outputs[0]


def _squeeze_dims(x: Tensor, axis: Any) -> list[int]:
    if axis is None:
        if x.shape is None:
            raise ValueError("reduce_logsumexp over every axis needs a tensor of known rank")
        return list(range(len(x.shape)))
    return [int(a) for a in np.asarray(axis).reshape(-1)]


def reduce_variance(input_tensor: Any, axis: Any = None, keepdims: bool = False,
                    name: str | None = None) -> Tensor:
    """``tf.math.reduce_variance(x, axis=None, keepdims=False)``: the population variance."""
    x = _t(input_tensor)
    mean = _reduce("Mean", x, axis, True, None)
    return _reduce("Mean", _binary("SquaredDifference", x, mean, None), axis, keepdims,
                   name or DefaultName("reduce_variance"))


def reduce_std(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """``tf.math.reduce_std(x, axis=None, keepdims=False)``: the population standard deviation."""
    return sqrt(reduce_variance(input_tensor, axis, keepdims), name=name or DefaultName("reduce_std"))


def reduce_euclidean_norm(input_tensor: Any, axis: Any = None, keepdims: bool = False,
                          name: str | None = None) -> Tensor:
    """``tf.math.reduce_euclidean_norm(x, axis=None, keepdims=False)``."""
    return _reduce("EuclideanNorm", _t(input_tensor), axis, keepdims, name)


def count_nonzero(input: Any, axis: Any = None, keepdims: bool = False, dtype: Any = "int64",
                  name: str | None = None) -> Tensor:
    """``tf.math.count_nonzero(input, axis=None, keepdims=False, dtype=int64)``."""
    x = _t(input)
    nonzero = apply_op("NotEqual", [x, apply_op("ZerosLike", [x]).outputs[0]]).outputs[0]
    return _reduce("Sum", cast(nonzero, dtype), axis, keepdims, name or DefaultName("count_nonzero"))


def argmax(input: Any, axis: int | None = None, output_type: Any = "int64",
           name: str | None = None) -> Tensor:
    """``tf.math.argmax(input, axis=None, output_type=int64)``; ``axis=None`` means 0."""
    return apply_op("ArgMax", [_t(input), constant(np.int32(axis or 0))],
                    {"output_type": as_dtype(output_type)}, name=name).outputs[0]


def argmin(input: Any, axis: int | None = None, output_type: Any = "int64",
           name: str | None = None) -> Tensor:
    """``tf.math.argmin(input, axis=None, output_type=int64)``; ``axis=None`` means 0."""
    return apply_op("ArgMin", [_t(input), constant(np.int32(axis or 0))],
                    {"output_type": as_dtype(output_type)}, name=name).outputs[0]


def cumsum(x: Any, axis: int = 0, exclusive: bool = False, reverse: bool = False,
           name: str | None = None) -> Tensor:
    """``tf.math.cumsum(x, axis=0, exclusive=False, reverse=False)``."""
    return apply_op("Cumsum", [_t(x), constant(np.int32(axis))],
                    {"exclusive": exclusive, "reverse": reverse}, name=name).outputs[0]


def cumprod(x: Any, axis: int = 0, exclusive: bool = False, reverse: bool = False,
            name: str | None = None) -> Tensor:
    """``tf.math.cumprod(x, axis=0, exclusive=False, reverse=False)``."""
    return apply_op("Cumprod", [_t(x), constant(np.int32(axis))],
                    {"exclusive": exclusive, "reverse": reverse}, name=name).outputs[0]


def top_k(input: Any, k: int = 1, sorted: bool = True, name: str | None = None) -> tuple[Tensor, Tensor]:
    """``tf.math.top_k(input, k=1, sorted=True)``: ``(values, indices)`` of the k largest
    entries along the last dimension."""
    op = apply_op("TopKV2", [_t(input), constant(np.int32(k))], {"sorted": sorted}, name=name)
    return op.outputs[0], op.outputs[1]


_ = (op_result, _axes, reduce_mean)
