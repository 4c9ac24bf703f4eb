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

__all__ = ["broadcast_shapes", "const_value", "infer_shapes"]

Shape = tuple[int | None, ...] | None

_UNARY = {"Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cast", "Ceil", "Cos", "Cosh", "Digamma", "Elu", "Erf", "Erfc", "Exp", "Expm1", "Floor", "Identity", "Inv", "Invert", "IsFinite", "IsInf", "IsNan", "LeakyRelu", "Lgamma", "Log", "Log1p", "LogSoftmax", "LogicalNot", "Neg", "OnesLike", "Reciprocal", "Relu", "Relu6", "Rint", "Round", "Rsqrt", "Selu", "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus", "Softsign", "Sqrt", "Square", "StopGradient", "Tan", "Tanh", "ZerosLike", "BiasAdd", "CheckNumerics", "PreventGradient", "Snapshot"}

_BINARY = {"Add", "AddV2", "Atan2", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Div", "DivNoNan", "Equal", "FloorDiv", "FloorMod", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalOr", "Maximum", "Minimum", "Mod", "Mul", "MulNoNan", "NotEqual", "Pow", "RealDiv", "SquaredDifference", "Sub", "TruncateDiv", "TruncateMod", "Xdivy", "Xlogy", "Xlog1py", "Zeta", "Igamma", "Igammac"}

_REDUCE = {"Sum", "Mean", "Max", "Min", "Prod", "All", "Any"}


def const_value(t: Tensor) -> np.ndarray[Any, Any] | None:
    """The value of a Const node's output, else None."""
    return getattr(t.op, "const_value", None) if t.op.type == "Const" else None


def broadcast_shapes(a: Shape, b: Shape) -> Shape:
    """numpy broadcasting of two static shapes; None when a rank is unknown or they clash."""
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
        else:
            return None
    return tuple(reversed(out))


def _matmul(op: Operation, a: Shape, b: Shape, ta: bool, tb: bool) -> Shape:
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return None
    rows = a[-1] if ta else a[-2]
    cols = b[-2] if tb else b[-1]
    batch = broadcast_shapes(a[:-2], b[:-2])
    return None if batch is None else (*batch, rows, cols)


def _reduce(x: Shape, axes: np.ndarray[Any, Any] | None, keep: bool) -> Shape:
    if x is None or axes is None:
        return None
    r = len(x)
    chosen = {int(a) % r for a in np.asarray(axes).reshape(-1)} if r else set()
    if keep:
        return tuple(1 if k in chosen else d for k, d in enumerate(x))
    return tuple(d for k, d in enumerate(x) if k not in chosen)


def _reshape(x: Shape, target: np.ndarray[Any, Any] | None) -> Shape:
    if target is None:
        return None
    dims = [int(d) for d in np.asarray(target).reshape(-1)]
    if dims.count(-1) == 1:
        known = x is not None and all(d is not None for d in x)
        rest = int(np.prod([d for d in dims if d != -1]))
        if known and rest > 0:
            total = int(np.prod(x))  # type: ignore[arg-type]
            return tuple(total // rest if d == -1 else d for d in dims)
        return tuple(None if d == -1 else d for d in dims)
    return tuple(dims)


def _infer(op: Operation, attrs: dict[str, Any]) -> list[Shape] | None:
    ins = [t.shape for t in op.inputs]
    kind = op.type
    if kind in _UNARY and ins:
        return [ins[0]]
    if kind in _BINARY and len(ins) == 2:
        return [broadcast_shapes(ins[0], ins[1])]
    if kind == "MatMul":
        return [_matmul(op, ins[0], ins[1], bool(attrs.get("transpose_a")), bool(attrs.get("transpose_b")))]
    if kind in ("BatchMatMulV2", "BatchMatMulV3"):
        return [_matmul(op, ins[0], ins[1], bool(attrs.get("adj_x")), bool(attrs.get("adj_y")))]
    if kind in _REDUCE:
        return [_reduce(ins[0], const_value(op.inputs[1]), bool(attrs.get("keep_dims")))]
    if kind == "Reshape":
        return [_reshape(ins[0], const_value(op.inputs[1]))]
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
            return [broadcast_shapes(broadcast_shapes(ins[0], ins[1]), ins[2])]
        return [ins[1]]
    return None


def infer_shapes(op: Operation, attrs: dict[str, Any]) -> None:
    """Sets the static shapes of ``op``'s outputs where a rule is certain of them."""
    try:
        shapes = _infer(op, attrs)
    except (IndexError, ValueError, TypeError, ZeroDivisionError):
        shapes = None
    if not shapes:
        return
    for tensor, shape in zip(op.outputs, shapes):
        if shape is not None and tensor.shape is None:
            tensor.set_shape(shape)


_ = Sequence
