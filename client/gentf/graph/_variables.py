"""Variables: worker-side state with an initial value computed on the client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gentf.graph._apply import _default_dtype, apply_op, convert_to_tensor
from gentf.graph._core import DefaultName, Operation, Tensor, get_default_graph
from gentf.wire import as_dtype
from gentf.wire._dtypes import DType

__all__ = ["Variable", "assign", "assign_add", "assign_sub", "get_variable", "global_variables",
           "trainable_variables"]


class Variable:
    """``tf.Variable(initial_value, name=None, dtype=None, trainable=True)``.

    A resource variable: ``handle`` is the VarHandleOp's output, ``value()`` its read. The
    initial value must be array-like (computed on the client); the worker creates the
    variable with it when the session first sees the node. A Variable can be used
    wherever a Tensor can (it reads its value).
    """

    __array_priority__ = 100

    def __init__(
        self,
        initial_value: Any,
        name: str | None = None,
        dtype: Any = None,
        trainable: bool = True,
        shape: Any = None,
    ) -> None:
        if isinstance(initial_value, Tensor) or callable(initial_value):
            if callable(initial_value) and not isinstance(initial_value, Tensor):
                initial_value = initial_value()
            if isinstance(initial_value, Tensor):
                raise TypeError(
                    "a Variable's initial value must be array-like (numpy), computed on the client; "
                    f"got the symbolic tensor {initial_value.name!r}")
        d: DType = _default_dtype(initial_value) if dtype is None else as_dtype(dtype)
        value = np.array(initial_value, dtype=d.as_numpy_dtype)
        if shape is not None and tuple(shape) != value.shape:
            value = np.broadcast_to(value, tuple(shape)).copy()
        graph = get_default_graph()
        base = graph.unique_name(name or DefaultName("Variable"))
        handle_op = apply_op("VarHandleOp", [], {"dtype": d, "shape": list(value.shape),
                                                 "shared_name": base}, full_name=base)
        handle_op.initial_value = value
        handle_op.explicit_name = name is not None
        self.handle: Tensor = handle_op.outputs[0]
        self.handle.set_shape(())
        self.dtype = d
        self.shape: tuple[int, ...] = tuple(value.shape)
        self.trainable = trainable
        self.initial_value = value
        read = apply_op("ReadVariableOp", [self.handle], {"dtype": d}, full_name=f"{base}/read")
        read.explicit_name = name is not None
        self._value = read.outputs[0]
        self._value.set_shape(self.shape)
        _VARIABLES.setdefault(id(graph), []).append(self)
        handle_op.variable = self  # type: ignore[attr-defined]

    @property
    def op(self) -> Operation:
        """The VarHandleOp."""
        return self.handle.op

    @property
    def graph(self) -> Any:
        """The graph holding the variable."""
        return self.handle.graph

    @property
    def name(self) -> str:
        """``"W:0"``, as TensorFlow names variables."""
        return self.handle.name

    def value(self) -> Tensor:
        """The tensor reading the variable's current value."""
        return self._value

    def read_value(self) -> Tensor:
        """Same as :meth:`value`."""
        return self._value

    def _as_tensor(self) -> Tensor:
        return self._value

    def assign(self, value: Any, name: str | None = None) -> Tensor:
        """``tf.assign(self, value)``."""
        return assign(self, value, name=name)

    def assign_add(self, delta: Any, name: str | None = None) -> Tensor:
        """``tf.assign_add(self, delta)``."""
        return assign_add(self, delta, name=name)

    def assign_sub(self, delta: Any, name: str | None = None) -> Tensor:
        """``tf.assign_sub(self, delta)``."""
        return assign_sub(self, delta, name=name)

    def get_shape(self) -> tuple[int, ...]:
        """The variable's shape."""
        return self.shape

    def __repr__(self) -> str:
        return f"<gentf Variable {self.name!r} shape={self.shape} dtype={self.dtype.name}>"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


_VARIABLES: dict[int, list[Variable]] = {}


def global_variables() -> list[Variable]:
    """Every Variable of the default graph, in creation order."""
    return list(_VARIABLES.get(id(get_default_graph()), []))


def trainable_variables() -> list[Variable]:
    """The trainable Variables of the default graph."""
    return [v for v in global_variables() if v.trainable]


def _update(op_type: str, ref: Variable, value: Any, name: str | None) -> Tensor:
    if not isinstance(ref, Variable):
        raise TypeError(f"{op_type} needs a Variable, got {type(ref).__name__}")
    value = convert_to_tensor(value, dtype=ref.dtype)
    attrs: dict[str, Any] = {"dtype": ref.dtype}
    if op_type == "AssignVariableOp":
        attrs["validate_shape"] = True  # never reshape a variable (a trained parameter)
    op = apply_op(op_type, [ref.handle, value], attrs, name=name or DefaultName(op_type))
    read = apply_op("ReadVariableOp", [ref.handle], {"dtype": ref.dtype},
                    full_name=f"{op.name}/read", control_inputs=[op])
    read.outputs[0].set_shape(ref.shape)
    return read.outputs[0]


def assign(ref: Variable, value: Any, name: str | None = None) -> Tensor:
    """``tf.assign(ref, value)``: sets the variable; the result reads the new value."""
    return _update("AssignVariableOp", ref, value, name)


def assign_add(ref: Variable, delta: Any, name: str | None = None) -> Tensor:
    """``tf.assign_add(ref, delta)``: adds to the variable; the result reads the new value."""
    return _update("AssignAddVariableOp", ref, delta, name)


def assign_sub(ref: Variable, delta: Any, name: str | None = None) -> Tensor:
    """``tf.assign_sub(ref, delta)``: subtracts from the variable; the result reads the new value."""
    return _update("AssignSubVariableOp", ref, delta, name)


def get_variable(
    name: str,
    shape: Any = None,
    dtype: Any = None,
    initializer: Any = None,
    trainable: bool = True,
) -> Variable:
    """``tf.get_variable(name, shape, dtype, initializer)``: a new Variable called ``name``.

    ``initializer`` is an array-like, or a callable ``(shape, dtype) -> array`` (such as
    ``tf.zeros_initializer()``), or None for Glorot-uniform. ValueError if ``name`` is taken.
    """
    graph = get_default_graph()
    full = graph.unique_name(name)
    if full != "/".join([*graph._scopes, name]):
        raise ValueError(f"variable {name!r} already exists in the graph")
    d = as_dtype(dtype) if dtype is not None else None
    if initializer is None or callable(initializer):
        if shape is None:
            raise ValueError(f"get_variable({name!r}): a shape is needed with a callable or default initializer")
        d = d or as_dtype("float32")
        init: Callable[..., Any] = initializer or _glorot_uniform
        value = np.asarray(init(tuple(shape), d), dtype=d.as_numpy_dtype)
    else:
        value = np.asarray(initializer, dtype=None if d is None else d.as_numpy_dtype)
        if shape is not None and tuple(shape) != value.shape:
            raise ValueError(f"get_variable({name!r}): initializer has shape {value.shape}, "
                             f"expected {tuple(shape)}")
    return Variable(value, name=name, dtype=d, trainable=trainable)


def _glorot_uniform(shape: tuple[int, ...], dtype: DType) -> np.ndarray[Any, Any]:
    fan_in = shape[-2] if len(shape) >= 2 else (shape[0] if shape else 1)
    fan_out = shape[-1] if shape else 1
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    limit = np.sqrt(6.0 / max(1, (fan_in + fan_out) * receptive))
    return np.random.default_rng().uniform(-limit, limit, size=shape).astype(dtype.as_numpy_dtype)
