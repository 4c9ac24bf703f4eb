"""Client-side static shapes for common ops, so tensors know their shape before any sync.

Only simple, certain rules: elementwise ops, broadcasting, MatMul, reductions and reshapes
with constant arguments. Anything else stays unknown (``None``) until a session syncs the
graph and stores the worker's inferred shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.graph._core import Operation, Tensor

__all__ = ["ShapeMismatchError", "broadcast_shapes", "const_value", "infer_shapes"]

Shape = tuple[int | None, ...] | None

_UNARY = {"Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cast", "Ceil", "Cos", "Cosh", "Digamma", "Elu", "Erf", "Erfc", "Exp", "Expm1", "Floor", "Identity", "Inv", "Invert", "IsFinite", "IsInf", "IsNan", "LeakyRelu", "Lgamma", "Log", "Log1p", "LogSoftmax", "LogicalNot", "Neg", "OnesLike", "Reciprocal", "Relu", "Relu6", "Rint", "Round", "Rsqrt", "Selu", "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus", "Softsign", "Sqrt", "Square", "StopGradient", "Tan", "Tanh", "ZerosLike", "BiasAdd", "CheckNumerics", "PreventGradient", "Snapshot", "Relu6Grad", "ReluGrad"}

_BINARY = {"Add", "AddV2", "Atan2", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Div", "DivNoNan", "Equal", "FloorDiv", "FloorMod", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalOr", "Maximum", "Minimum", "Mod", "Mul", "MulNoNan", "NotEqual", "Pow", "RealDiv", "SquaredDifference", "Sub", "TruncateDiv", "TruncateMod", "Xdivy", "Xlogy", "Xlog1py", "Zeta", "Igamma", "Igammac"}

_REDUCE = {"Sum", "Mean", "Max", "Min", "Prod", "All", "Any"}


def const_value(t: Tensor) -> np.ndarray[Any, Any] | None:
    """The value of a Const node's output, else None."""
    return getattr(t.op, "const_value", None) if t.op.type == "Const" else None


class ShapeMismatchError(ValueError):
    """Static shapes that cannot fit an op, found while the graph is built (TensorFlow 1
    raises ValueError there too). The message names the op and the user's line."""


def _fail(op: Operation, what: str) -> ShapeMismatchError:
    shapes = ", ".join(_show(t.shape) for t in op.inputs)
    where = f" (created at {op.source})" if op.source else ""
    return ShapeMismatchError(f"{what} for {op.name!r} (op: {op.type!r}) with input shapes: "
                              f"{shapes}{where}")


def _show(shape: Shape) -> str:
    return "?" if shape is None else "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def broadcast_shapes(a: Shape, b: Shape, op: Operation | None = None) -> Shape:
    """numpy broadcasting of two static shapes; None when a rank is unknown. When two known
    dimensions clash: ShapeMismatchError with ``op`` given, else None."""
    if a is None or b is None:
        return None
    out: list[int | None] = []
    for k in range(1, max(len(a), len(b)) + 1):
        x = a[-k] if k <= len(a) else 1
        y = b[-k] if k <= len(b) else 1
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None or y is None:
            out.append(x if y is None else y)
        elif x == y:
            out.append(x)
        elif op is not None:
            raise _fail(op, f"Dimensions must be equal, but are {x} and {y}")
        else:
            return None
    return tuple(reversed(out))


def _matmul(op: Operation, a: Shape, b: Shape, ta: bool, tb: bool, batched: bool = False) -> Shape:
    for s in (a, b):
        if s is not None and (len(s) < 2 or (not batched and len(s) != 2)):
            raise _fail(op, f"Shape must be rank 2 but is rank {len(s)}" if not batched else
                        f"Shape must be at least rank 2 but is rank {len(s)}")
    if a is None or b is None:
        return None
    rows = a[-1] if ta else a[-2]
    inner_a = a[-2] if ta else a[-1]
    inner_b = b[-1] if tb else b[-2]
    if inner_a is not None and inner_b is not None and inner_a != inner_b:
        raise _fail(op, f"Dimensions must be equal, but are {inner_a} and {inner_b}")
    cols = b[-2] if tb else b[-1]
    batch = broadcast_shapes(a[:-2], b[:-2], op)
    return None if batch is None else (*batch, rows, cols)


def _conv_out(size: int | None, k: int | None, stride: int, padding: str) -> int | None:
    if size is None:
        return None
    if padding == "SAME":
        return -(-size // stride)
    if k is None:
        return None
    return (size - k) // stride + 1


def _attr_list(attrs: dict[str, Any], key: str, default: list[int]) -> list[int]:
    value = attrs.get(key)
    return [int(v) for v in value] if value is not None else default


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _conv2d(op: Operation, x: Shape, f: Shape, attrs: dict[str, Any]) -> Shape:
    if x is not None and len(x) != 4:
        raise _fail(op, f"Shape must be rank 4 but is rank {len(x)}")
    if f is not None and len(f) != 4:
        raise _fail(op, f"Shape must be rank 4 but is rank {len(f)}")
    if x is None or f is None or _decode(attrs.get("data_format", "NHWC")) != "NHWC":
        return None
    if x[3] is not None and f[2] is not None and x[3] % f[2] != 0:
        raise _fail(op, f"Depth of input ({x[3]}) is not a multiple of input depth of filter ({f[2]})")
    strides = _attr_list(attrs, "strides", [1, 1, 1, 1])
    padding = _decode(attrs.get("padding", "VALID"))
    if padding not in ("SAME", "VALID"):
        return None
    return (x[0], _conv_out(x[1], f[0], strides[1], padding), _conv_out(x[2], f[1], strides[2], padding), f[3])


def _pool(op: Operation, x: Shape, attrs: dict[str, Any]) -> Shape:
    if x is not None and len(x) != 4:
        raise _fail(op, f"Shape must be rank 4 but is rank {len(x)}")
    if x is None or _decode(attrs.get("data_format", "NHWC")) != "NHWC":
        return None
    k = _attr_list(attrs, "ksize", [1, 1, 1, 1])
    st = _attr_list(attrs, "strides", [1, 1, 1, 1])
    padding = _decode(attrs.get("padding", "VALID"))
    return (x[0], _conv_out(x[1], k[1], st[1], padding), _conv_out(x[2], k[2], st[2], padding), x[3])


def _reduce(x: Shape, axes: np.ndarray[Any, Any] | None, keep: bool) -> Shape:
    if x is None or axes is None:
        return None
    r = len(x)
    chosen = {int(a) % r for a in np.asarray(axes).reshape(-1)} if r else set()
    if keep:
        return tuple(1 if k in chosen else d for k, d in enumerate(x))
    return tuple(d for k, d in enumerate(x) if k not in chosen)


def _reshape(op: Operation, x: Shape, target: np.ndarray[Any, Any] | None) -> Shape:
    if target is None:
        return None
    dims = [int(d) for d in np.asarray(target).reshape(-1)]
    known = x is not None and all(d is not None for d in x)
    total = int(np.prod(x)) if known else None  # type: ignore[arg-type]
    if dims.count(-1) == 1:
        rest = int(np.prod([d for d in dims if d != -1]))
        if total is not None and rest > 0:
            if total % rest:
                raise _fail(op, f"Cannot reshape a tensor with {total} elements to shape "
                                f"{_show(tuple(dims))}")
            return tuple(total // rest if d == -1 else d for d in dims)
        return tuple(None if d == -1 else d for d in dims)
    if total is not None and total != int(np.prod(dims)):
        raise _fail(op, f"Cannot reshape a tensor with {total} elements to shape {_show(tuple(dims))} "
                        f"({int(np.prod(dims))} elements)")
    return tuple(dims)


def _infer(op: Operation, attrs: dict[str, Any]) -> list[Shape] | None:
    ins = [t.shape for t in op.inputs]
    kind = op.type
    if kind in _UNARY and ins:
        return [ins[0]]
    if kind in _BINARY and len(ins) == 2:
        return [broadcast_shapes(ins[0], ins[1], op)]
    if kind == "MatMul":
        return [_matmul(op, ins[0], ins[1], bool(attrs.get("transpose_a")), bool(attrs.get("transpose_b")))]
    if kind in ("BatchMatMulV2", "BatchMatMulV3"):
        return [_matmul(op, ins[0], ins[1], bool(attrs.get("adj_x")), bool(attrs.get("adj_y")), True)]
    if kind == "Conv2D":
        return [_conv2d(op, ins[0], ins[1], attrs)]
    if kind in ("MaxPool", "AvgPool"):
        return [_pool(op, ins[0], attrs)]
    if kind in ("RandomStandardNormal", "TruncatedNormal", "RandomUniform"):
        dims = const_value(op.inputs[0])
        return None if dims is None else [tuple(int(d) for d in dims.reshape(-1))]
    if kind == "SoftmaxCrossEntropyWithLogits":
        both = broadcast_shapes(ins[0], ins[1], op)
        return [None if both is None else both[:-1], both]
    if kind == "SparseSoftmaxCrossEntropyWithLogits":
        return [None if ins[0] is None else ins[0][:-1], ins[0]]
    if kind in ("ArgMax", "ArgMin"):
        return [_reduce(ins[0], const_value(op.inputs[1]), False)]
    if kind in _REDUCE:
        return [_reduce(ins[0], const_value(op.inputs[1]), bool(attrs.get("keep_dims")))]
    if kind == "Reshape":
        return [_reshape(op, ins[0], const_value(op.inputs[1]))]
    if kind == "Transpose":
        perm = const_value(op.inputs[1])
        if ins[0] is None or perm is None:
            return None
        return [tuple(ins[0][int(p)] for p in perm.reshape(-1))]
    if kind == "ExpandDims":
        axis = const_value(op.inputs[1])
        if ins[0] is None or axis is None:
            return None
        r = len(ins[0]) + 1
        k = int(np.asarray(axis).reshape(-1)[0]) % r
        return [(*ins[0][:k], 1, *ins[0][k:])]
    if kind == "Shape":
        return [None if ins[0] is None else (len(ins[0]),)]
    if kind in ("Rank", "Size"):
        return [()]
    if kind == "Fill":
        dims = const_value(op.inputs[0])
        return None if dims is None else [tuple(int(d) for d in dims.reshape(-1))]
    if kind == "Select" or kind == "SelectV2":
        if kind == "SelectV2":
            return [broadcast_shapes(broadcast_shapes(ins[0], ins[1], op), ins[2], op)]
        return [ins[1]]
    return None


def infer_shapes(op: Operation, attrs: dict[str, Any]) -> None:
    """Sets the static shapes of ``op``'s outputs where a rule is certain of them."""
    try:
        shapes = _infer(op, attrs)
    except ShapeMismatchError:
        raise
    except (IndexError, ValueError, TypeError, ZeroDivisionError, KeyError):
        shapes = None
    if not shapes:
        return
    for tensor, shape in zip(op.outputs, shapes):
        if shape is not None and tensor.shape is None:
            tensor.set_shape(shape)


_ = Sequence
