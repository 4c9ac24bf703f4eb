"""Python operators on Tensors and Variables: ``+ - * / @``, unary ``-``."""

from __future__ import annotations

from typing import Any, Callable

from gentf.graph import _ops
from gentf.graph._core import Tensor
from gentf.graph._variables import Variable

__all__: list[str] = []


def _install(cls: type) -> None:
    def binary(fn: Callable[..., Any], reverse: bool = False) -> Callable[..., Any]:
        if reverse:
            return lambda self, other: fn(other, self)
        return lambda self, other: fn(self, other)

    cls.__add__ = binary(_ops.add)  # type: ignore[attr-defined]
    cls.__radd__ = binary(_ops.add, True)  # type: ignore[attr-defined]
    cls.__sub__ = binary(_ops.subtract)  # type: ignore[attr-defined]
    cls.__rsub__ = binary(_ops.subtract, True)  # type: ignore[attr-defined]
    cls.__mul__ = binary(_ops.multiply)  # type: ignore[attr-defined]
    cls.__rmul__ = binary(_ops.multiply, True)  # type: ignore[attr-defined]
    cls.__truediv__ = binary(_ops.divide)  # type: ignore[attr-defined]
    cls.__rtruediv__ = binary(_ops.divide, True)  # type: ignore[attr-defined]
    cls.__matmul__ = binary(_ops.matmul)  # type: ignore[attr-defined]
    cls.__rmatmul__ = binary(_ops.matmul, True)  # type: ignore[attr-defined]
    cls.__pow__ = binary(_ops.pow)  # type: ignore[attr-defined]
    cls.__rpow__ = binary(_ops.pow, True)  # type: ignore[attr-defined]
    cls.__neg__ = lambda self: _ops.negative(self)  # type: ignore[attr-defined]
    cls.__abs__ = lambda self: _ops.abs(self)  # type: ignore[attr-defined]


_install(Tensor)
_install(Variable)
