"""Python operators on Tensors and Variables.

``+ - * / // % ** @`` build AddV2, Sub, Mul, RealDiv (integers divide as floats, as in
TensorFlow), FloorDiv, FloorMod, Pow and MatMul; unary ``-`` and ``abs``; comparisons
``< <= > >=`` build Less, LessEqual, Greater, GreaterEqual. ``& | ^ ~`` are logical on bool
tensors and bitwise on integer tensors. A Python scalar on either side takes the tensor's
dtype. ``==`` and ``!=`` stay identity tests, as on TensorFlow 1 graph tensors (tensors are
dictionary keys and feed_dict keys); use ``tf.equal`` / ``tf.not_equal`` for elementwise
equality. ``tensor[...]`` indexes like numpy (see ``_indexing``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gentf.graph import _math_ops, _ops
from gentf.graph._apply import convert_to_tensor
from gentf.graph._core import Tensor
from gentf.graph._indexing import getitem
from gentf.graph._variables import Variable

__all__: list[str] = []


def _logical_or_bitwise(logical: Callable[..., Any], bitwise: Callable[..., Any]) -> Callable[..., Any]:
    def fn(x: Any, y: Any) -> Any:
        ref = x if isinstance(x, Tensor) or hasattr(x, "_as_tensor") else y
        return logical(x, y) if convert_to_tensor(ref).dtype.is_bool else bitwise(x, y)

    return fn


def _invert(x: Any) -> Any:
    t = convert_to_tensor(x)
    return _math_ops.logical_not(t) if t.dtype.is_bool else _math_ops.invert(t)


def _install(cls: type) -> None:
    def binary(fn: Callable[..., Any], reverse: bool = False) -> Callable[..., Any]:
        if reverse:
            return lambda self, other: fn(other, self)
        return lambda self, other: fn(self, other)

    and_ = _logical_or_bitwise(_math_ops.logical_and, _math_ops.bitwise_and)
    or_ = _logical_or_bitwise(_math_ops.logical_or, _math_ops.bitwise_or)
    xor_ = _logical_or_bitwise(_math_ops.logical_xor, _math_ops.bitwise_xor)
    table: dict[str, Callable[..., Any]] = {
        "add": _ops.add, "sub": _ops.subtract, "mul": _ops.multiply, "truediv": _ops.divide,
        "floordiv": _math_ops.floordiv, "mod": _math_ops.floormod, "pow": _ops.pow,
        "matmul": _ops.matmul, "and": and_, "or": or_, "xor": xor_,
    }
    for key, fn in table.items():
        setattr(cls, f"__{key}__", binary(fn))
        setattr(cls, f"__r{key}__", binary(fn, True))
    setattr(cls, "__lt__", binary(_math_ops.less))  # noqa: B010
    setattr(cls, "__le__", binary(_math_ops.less_equal))  # noqa: B010
    setattr(cls, "__gt__", binary(_math_ops.greater))  # noqa: B010
    setattr(cls, "__ge__", binary(_math_ops.greater_equal))  # noqa: B010
    setattr(cls, "__neg__", lambda self: _ops.negative(self))  # noqa: B010
    setattr(cls, "__abs__", lambda self: _ops.abs(self))  # noqa: B010
    setattr(cls, "__invert__", _invert)  # noqa: B010
    setattr(cls, "__getitem__", getitem)  # noqa: B010


_install(Tensor)
_install(Variable)
