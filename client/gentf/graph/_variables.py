"""Variables: worker-side state with an initial value computed on the client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gentf.graph._apply import _default_dtype, apply_op, constant, convert_to_tensor
from gentf.graph._core import DefaultName, Operation, Tensor, get_default_graph
from gentf.graph._worker import worker_link
from gentf.wire import as_dtype
from gentf.wire._dtypes import DType

__all__ = ["AUTO_REUSE", "Variable", "VariableScope", "assign", "assign_add", "assign_sub",
           "get_variable", "get_variable_scope", "global_variables", "trainable_variables",
           "variable_scope"]


class Variable:
    """``tf.Variable(initial_value, name=None, dtype=None, trainable=True, shape=None)``.

    A resource variable on the worker: ``handle`` is the VarHandleOp's output, ``value()``
    its read; a Variable can be used wherever a Tensor can (it reads its value). The
    variable holds its initial value as soon as a session first sends its node (GenTF
    programs rely on that); ``initializer`` (and ``tf.global_variables_initializer()``)
    sets it again, as TensorFlow 1 does.

    ``initial_value`` is array-like (sent once with the node), a Tensor such as
    ``tf.zeros(...)`` or ``tf.truncated_normal(...)`` (computed on the worker, never
    shipped: random values are drawn again by every run of the initializer), or a
    callable returning either. A Tensor initial value needs a static shape (or ``shape=``).
    """

    __array_priority__ = 100

    def __init__(
        self,
        initial_value: Any = None,
        name: str | None = None,
        dtype: Any = None,
        trainable: bool | None = True,
        shape: Any = None,
        *,
        collections: Any = None,
        validate_shape: bool = True,
        use_resource: Any = None,
        caching_device: Any = None,
        expected_shape: Any = None,
        constraint: Any = None,
        full_name: str | None = None,
    ) -> None:
        del collections, validate_shape, use_resource, caching_device, expected_shape, constraint
        if initial_value is None:
            raise ValueError("tf.Variable needs an initial value")
        graph = get_default_graph()
        if callable(initial_value) and not isinstance(initial_value, Tensor):
            initial_value = initial_value()
        as_tensor = getattr(initial_value, "_as_tensor", None)
        if as_tensor is not None:
            initial_value = as_tensor()
        base = (graph.unique_name(full_name, scoped=False) if full_name
                else graph.unique_name(name or DefaultName("Variable")))
        with graph.control_dependencies(None):
            if isinstance(initial_value, Tensor):
                self._init_from_tensor(graph, initial_value, base, dtype, shape)
            else:
                self._init_from_array(initial_value, base, dtype, shape)
            self.handle.op.explicit_name = name is not None or full_name is not None
            read = apply_op("ReadVariableOp", [self.handle], {"dtype": self.dtype},
                            full_name=f"{base}/read")
        read.explicit_name = self.handle.op.explicit_name
        self._value = read.outputs[0]
        self._value.set_shape(self.shape)
        self.trainable = True if trainable is None else bool(trainable)
        self._load: tuple[Tensor, Operation] | None = None
        _VARIABLES.setdefault(id(graph), []).append(self)
        self.handle.op.variable = self  # type: ignore[attr-defined]

    def _init_from_array(self, initial_value: Any, base: str, dtype: Any, shape: Any) -> None:
        d: DType = _default_dtype(initial_value) if dtype is None else as_dtype(dtype)
        value = np.array(initial_value, dtype=d.as_numpy_dtype)
        if shape is not None and tuple(shape) != value.shape:
            value = np.broadcast_to(value, tuple(shape)).copy()
        handle_op = apply_op("VarHandleOp", [], {"dtype": d, "shape": list(value.shape),
                                                 "shared_name": base}, full_name=base)
        handle_op.initial_value = value
        self.handle: Tensor = handle_op.outputs[0]
        self.handle.set_shape(())
        self.dtype = d
        self.shape: tuple[int, ...] = tuple(value.shape)
        self.initial_value: Any = value
        """The initial value: a numpy array, or the Tensor computing it on the worker."""
        self._initializer: Operation | None = None

    def _init_from_tensor(self, graph: Any, init: Tensor, base: str, dtype: Any, shape: Any) -> None:
        if dtype is not None and as_dtype(dtype) is not init.dtype:
            init = apply_op("Cast", [init], {"DstT": as_dtype(dtype)}).outputs[0]
        static = tuple(shape) if shape is not None else init.shape
        if static is None or any(d is None for d in static):
            static = _shape_from_worker(graph, init) if shape is None else static
        if static is None or any(d is None for d in static):
            raise ValueError(
                f"tf.Variable({base!r}): the initial value {init.name!r} has no fully known static "
                f"shape ({static}); pass shape=")
        d = init.dtype
        handle_op = apply_op("VarHandleOp", [], {"dtype": d, "shape": list(static),
                                                 "shared_name": base}, full_name=base)
        self.handle = handle_op.outputs[0]
        self.handle.set_shape(())
        self.dtype = d
        self.shape = tuple(int(x) for x in static)  # type: ignore[arg-type]
        self.initial_value = init
        self._initializer = apply_op("AssignVariableOp", [self.handle, init],
                                     {"dtype": d, "validate_shape": True}, full_name=f"{base}/Assign")
        handle_op.init_op = self._initializer  # type: ignore[attr-defined]

    @property
    def initializer(self) -> Operation:
        """The operation that sets the variable to its initial value (a random initial value
        is drawn again each time it runs)."""
        if self._initializer is None:
            graph = self.graph
            with graph.as_default(), graph.control_dependencies(None):
                const = constant(self.initial_value, dtype=self.dtype,
                                 name=DefaultName(f"{self.op.name}/initial_value"))
                self._initializer = apply_op(
                    "AssignVariableOp", [self.handle, const], {"dtype": self.dtype},
                    full_name=f"{self.op.name}/Assign")
        return self._initializer

    def initialized_value(self) -> Tensor:
        """The variable's value (it is initialized at creation)."""
        return self._value

    def eval(self, session: Any = None) -> Any:
        """The variable's current value (numpy), from ``session`` or the default session."""
        return self._value.eval(session=session)

    def load(self, value: Any, session: Any = None) -> None:
        """``v.load(value, session=None)``: sets the variable to ``value`` (numpy) in
        ``session`` or the default session, without adding nodes per call."""
        if self._load is None:
            from gentf.graph._ops import placeholder

            graph = self.graph
            with graph.as_default(), graph.control_dependencies(None):
                feed = placeholder(self.dtype, self.shape, name=DefaultName(f"{self.op.name}/load_value"))
                op = apply_op("AssignVariableOp", [self.handle, feed],
                              {"dtype": self.dtype, "validate_shape": True},
                              full_name=f"{self.op.name}/load")
            self._load = (feed, op)
        feed, op = self._load
        op.run(feed_dict={feed: value}, session=session)

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
        """A new read of the variable (as in TensorFlow 1, so that a read inside
        ``tf.control_dependencies`` runs after those dependencies)."""
        read = apply_op("ReadVariableOp", [self.handle], {"dtype": self.dtype},
                        name=DefaultName(f"{self.op.name}/Read/ReadVariableOp"))
        read.outputs[0].set_shape(self.shape)
        return read.outputs[0]

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


def _shape_from_worker(graph: Any, tensor: Tensor) -> tuple[int | None, ...] | None:
    """The worker's static shape of ``tensor``, via the session running ``graph`` (if any)."""
    link = worker_link()
    session = None if link is None else link.session_for_graph(graph)
    if session is not None:
        session.sync([tensor.op])
    return tensor.shape


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


class _AutoReuse:
    """``tf.AUTO_REUSE``: get_variable returns an existing variable or makes a new one."""

    def __repr__(self) -> str:
        return "tf.AUTO_REUSE"


AUTO_REUSE: Any = _AutoReuse()


class VariableScope:
    """One open ``tf.variable_scope``: its full ``name``, ``reuse`` mode, default
    ``initializer`` and ``dtype`` for ``tf.get_variable``."""

    def __init__(self, name: str, reuse: Any = None, initializer: Any = None, dtype: Any = None) -> None:
        self.name = name
        self.reuse = reuse
        self.initializer = initializer
        self.dtype = dtype
        self.original_name_scope = name + "/" if name else ""

    def reuse_variables(self) -> None:
        """Later ``get_variable`` calls in this scope return existing variables."""
        self.reuse = True


_ROOT_SCOPE = VariableScope("")


def get_variable_scope() -> VariableScope:
    """The innermost open variable scope of the default graph (the root scope if none)."""
    scopes = get_default_graph().variable_scopes
    return scopes[-1] if scopes else _ROOT_SCOPE


class variable_scope:
    """``with tf.variable_scope(name, reuse=None, initializer=None):``: prefixes the names
    of ``tf.get_variable`` variables with ``name/`` (and opens a name scope for other ops).

    ``reuse=True`` makes ``get_variable`` return existing variables (ValueError if one does
    not exist); ``tf.AUTO_REUSE`` returns or creates; reuse is inherited by inner scopes.
    ``name_or_scope`` may be a VariableScope to re-enter; ``default_name`` is used (made
    unique) when it is None.
    """

    def __init__(self, name_or_scope: Any = None, default_name: str | None = None, values: Any = None,
                 initializer: Any = None, regularizer: Any = None, caching_device: Any = None,
                 partitioner: Any = None, custom_getter: Any = None, reuse: Any = None,
                 dtype: Any = None, use_resource: Any = None, constraint: Any = None,
                 auxiliary_name_scope: bool = True) -> None:
        if name_or_scope is None and default_name is None:
            raise ValueError("variable_scope needs name_or_scope or default_name")
        self._name = name_or_scope
        self._default = default_name
        self._initializer, self._reuse, self._dtype = initializer, reuse, dtype
        self._name_scope: Any = None

    def __enter__(self) -> VariableScope:
        graph = get_default_graph()
        parent = get_variable_scope()
        if isinstance(self._name, VariableScope):
            full = self._name.name
            short = full.rpartition("/")[2]
        else:
            short = self._name if self._name is not None else graph.unique_scope(str(self._default)).rpartition("/")[2]
            full = f"{parent.name}/{short}" if parent.name else short
        reuse = True if parent.reuse is True else (self._reuse if self._reuse is not None else parent.reuse)
        scope = VariableScope(full, reuse, self._initializer or parent.initializer, self._dtype or parent.dtype)
        self._name_scope = graph.name_scope(short)
        self._name_scope.__enter__()
        graph.variable_scopes.append(scope)
        self._graph = graph
        return scope

    def __exit__(self, *exc: object) -> None:
        self._graph.variable_scopes.pop()
        self._name_scope.__exit__(*exc)


def get_variable(
    name: str,
    shape: Any = None,
    dtype: Any = None,
    initializer: Any = None,
    regularizer: Any = None,
    trainable: bool | None = None,
    collections: Any = None,
    caching_device: Any = None,
    partitioner: Any = None,
    validate_shape: bool = True,
    use_resource: Any = None,
    custom_getter: Any = None,
    constraint: Any = None,
) -> Variable:
    """``tf.get_variable(name, shape, dtype, initializer)``: the variable ``scope/name``.

    In a ``variable_scope`` with reuse, returns the existing variable of that name
    (ValueError if none, or if ``shape`` differs); otherwise makes a new one (ValueError if
    it exists). ``initializer``: a Tensor (computed on the worker), an array-like, a
    callable ``(shape, dtype) -> array`` such as ``tf.zeros_initializer()``, or None for
    the scope's initializer, else Glorot-uniform (zeros for integer dtypes).
    """
    del regularizer, collections, caching_device, partitioner, validate_shape, use_resource
    del custom_getter, constraint
    graph = get_default_graph()
    scope = get_variable_scope()
    full = f"{scope.name}/{name}" if scope.name else name
    existing = graph.variable_store.get(full)
    if existing is not None:
        if scope.reuse is not True and scope.reuse is not AUTO_REUSE:
            raise ValueError(f"Variable {full} already exists, disallowed. Did you mean to set "
                             f"reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
        if shape is not None and tuple(shape) != existing.shape:
            raise ValueError(f"Trying to share variable {full}, but specified shape {tuple(shape)} "
                             f"and found shape {existing.shape}.")
        return existing  # type: ignore[no-any-return]
    if scope.reuse is True:
        raise ValueError(f"Variable {full} does not exist, or was not created with "
                         f"tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in VarScope?")
    if full in graph._by_name:
        raise ValueError(f"get_variable({full!r}): the graph already has a node of that name")
    d = as_dtype(dtype) if dtype is not None else (as_dtype(scope.dtype) if scope.dtype else None)
    init = initializer if initializer is not None else scope.initializer
    value: Any
    if isinstance(init, Tensor) or hasattr(init, "_as_tensor"):
        value = init
    elif init is None or callable(init):
        if shape is None:
            raise ValueError(f"get_variable({full!r}): a shape is needed with a callable or default initializer")
        d = d or as_dtype("float32")
        if init is None and d.name.startswith(("int", "uint", "bool")):
            value = np.zeros(tuple(shape), d.as_numpy_dtype)
        else:
            make: Callable[..., Any] = init or _glorot_uniform
            value = make(tuple(shape), d)
            if not isinstance(value, Tensor):
                value = np.asarray(value, dtype=d.as_numpy_dtype)
    else:
        value = np.asarray(init, dtype=None if d is None else d.as_numpy_dtype)
        if shape is not None and tuple(shape) != value.shape:
            raise ValueError(f"get_variable({full!r}): initializer has shape {value.shape}, "
                             f"expected {tuple(shape)}")
    v = Variable(value, dtype=d, trainable=trainable, shape=shape, full_name=full)
    if v.op.name != full:
        raise ValueError(f"get_variable({full!r}): the name is taken in the graph")
    graph.variable_store[full] = v
    return v


def _glorot_uniform(shape: tuple[int, ...], dtype: DType) -> np.ndarray[Any, Any]:
    fan_in = shape[-2] if len(shape) >= 2 else (shape[0] if shape else 1)
    fan_out = shape[-1] if shape else 1
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    limit = np.sqrt(6.0 / max(1, (fan_in + fan_out) * receptive))
    return np.random.default_rng().uniform(-limit, limit, size=shape).astype(dtype.as_numpy_dtype)
