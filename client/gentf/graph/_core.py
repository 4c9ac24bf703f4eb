"""The client's graph: operations and tensors, built without TensorFlow.

A :class:`Graph` is an append-only list of :class:`Operation` nodes; a :class:`Tensor` is
one output of an operation. Nothing runs here: a session sends new nodes to its worker,
which validates them and infers static shapes, and runs them on request.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gentf.graph._worker import worker_link
from gentf.v1 import graph_pb2
from gentf.wire._dtypes import DType

__all__ = [
    "DefaultName",
    "Graph",
    "Operation",
    "Tensor",
    "get_default_graph",
    "reset_default_graph",
]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_VALID_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")


def _user_source() -> str:
    """``file.py:line`` of the innermost caller outside the gentf package."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


class DefaultName(str):
    """A node name chosen by gentf, not by the user (``tf.auto_name`` may replace it)."""


class Operation:
    """A node of a :class:`Graph`: an op type, inputs, attributes and outputs.

    ``attrs`` maps attribute names to wire ``AttrValue`` messages; ``outputs`` are the
    node's tensors. Build operations with the functions of ``gentf.tf``, not directly.
    """

    def __init__(
        self,
        graph: Graph,
        name: str,
        op_type: str,
        inputs: Sequence[Tensor],
        input_groups: Sequence[int],
        attrs: dict[str, graph_pb2.AttrValue],
        output_dtypes: Sequence[DType],
        control_inputs: Sequence[Operation] = (),
        initial_value: np.ndarray[Any, Any] | None = None,
    ) -> None:
        self.graph = graph
        self.name = name
        self.type = op_type
        self.inputs = list(inputs)
        self.input_groups = list(input_groups)
        self.attrs = attrs
        self.control_inputs = list(control_inputs)
        self.initial_value = initial_value
        self.source = _user_source()
        self.outputs = [Tensor(self, i, d) for i, d in enumerate(output_dtypes)]
        self.explicit_name = False
        self.sent = False

    def to_node_def(self) -> graph_pb2.NodeDef:
        """The wire NodeDef of this operation for an ExtendGraph request about to be sent;
        marks it :attr:`sent` (its name is final). A big initial value is held beside the
        message (see :func:`gentf.wire.fill_request_tensor`)."""
        self.sent = True
        return self.node_def(hold_values=True)

    def node_def(self, hold_values: bool = False) -> graph_pb2.NodeDef:
        """The wire NodeDef of this operation, without marking it sent."""
        node = graph_pb2.NodeDef(name=self.name, op=self.type, source=self.source)
        node.inputs.extend(t.ref for t in self.inputs)
        node.inputs.extend(f"^{c.name}" for c in self.control_inputs)
        for key, value in self.attrs.items():
            node.attrs[key].CopyFrom(value)
        if self.initial_value is not None:
            from gentf.wire import fill_request_tensor, fill_tensor

            fill = fill_request_tensor if hold_values else fill_tensor
            fill(node.initial_value, self.initial_value)
        return node

    def run(self, feed_dict: Any = None, session: Any = None) -> None:
        """``op.run(feed_dict=None, session=None)``: runs this operation in ``session``, else in
        the default session; ValueError when there is none."""
        _run(self, feed_dict, session, f"Operation.run({self.name!r})")

    def __repr__(self) -> str:
        return f"<gentf Operation {self.name!r} type={self.type}>"


class Tensor:
    """Output ``value_index`` of an :class:`Operation`: a symbolic value with a dtype.

    ``shape`` is the static shape as a tuple with ``None`` for unknown dimensions, or
    ``None`` when not known on the client (a session fills it in once the worker has the
    node). Python operators build new operations: ``+ - * / @`` and unary ``-``.
    """

    __array_priority__ = 100

    def __init__(self, op: Operation, value_index: int, dtype: DType) -> None:
        self.op = op
        self.value_index = value_index
        self.dtype = dtype
        self._shape: tuple[int | None, ...] | None = None

    @property
    def name(self) -> str:
        """``"node:k"``, TensorFlow's tensor name."""
        return f"{self.op.name}:{self.value_index}"

    @property
    def ref(self) -> str:
        """The reference used in NodeDef inputs: ``"node"`` for output 0, else ``"node:k"``."""
        return self.op.name if self.value_index == 0 else self.name

    @property
    def graph(self) -> Graph:
        """The graph of the producing operation."""
        return self.op.graph

    @property
    def shape(self) -> tuple[int | None, ...] | None:
        """Static shape (None entries unknown), or None when the rank is not known here."""
        return self._shape

    def set_shape(self, shape: Sequence[int | None] | None) -> None:
        """Records a static shape (from a placeholder's attribute or the worker's inference)."""
        self._shape = None if shape is None else tuple(shape)

    def get_shape(self) -> tuple[int | None, ...] | None:
        """Same as :attr:`shape`."""
        return self._shape

    def eval(self, feed_dict: Any = None, session: Any = None) -> Any:
        """``t.eval(feed_dict=None, session=None)``: this tensor's value (numpy), computed in
        ``session``, else in the default session; ValueError when there is none."""
        return _run(self, feed_dict, session, f"Tensor.eval({self.name!r})")

    def __repr__(self) -> str:
        return f"<gentf Tensor {self.name!r} shape={self._shape} dtype={self.dtype.name}>"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:  # identity, as TF1 graph tensors
        return self is other

    def __bool__(self) -> bool:
        raise TypeError("a symbolic gentf Tensor has no truth value; run it to get one")

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("a symbolic gentf Tensor is not iterable")

    # Operators: bound in gentf.graph._operators to avoid an import cycle.


class Graph:
    """An append-only list of operations with unique names and name scopes."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []
        self._by_name: dict[str, Operation] = {}
        self._scopes: list[str] = []
        self._lock = threading.RLock()
        self._control_stack: list[list[Operation]] = []
        self.variable_scopes: list[Any] = []
        """``tf.variable_scope`` blocks open on this graph, innermost last."""
        self.variable_store: dict[str, Any] = {}
        """Variables made by ``tf.get_variable``, by full name."""

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs: Sequence[Any] | None) -> Iterator[None]:
        """Operations built inside run only after ``control_inputs`` (operations, tensors or
        variables); ``None`` clears the dependencies of enclosing blocks."""
        if control_inputs is None:
            saved, self._control_stack = self._control_stack, []
            try:
                yield
            finally:
                self._control_stack = saved
            return
        ops: list[Operation] = []
        for item in control_inputs:
            as_tensor = getattr(item, "_as_tensor", None)
            item = as_tensor() if as_tensor is not None else item
            if isinstance(item, Tensor):
                item = item.op
            if not isinstance(item, Operation):
                raise TypeError(f"control_dependencies takes operations and tensors, got "
                                f"{type(item).__name__}")
            if item.graph is not self:
                raise ValueError(f"control input {item.name!r} belongs to another graph")
            ops.append(item)
        self._control_stack.append(ops)
        try:
            yield
        finally:
            self._control_stack.pop()

    def current_control_inputs(self) -> list[Operation]:
        """The control inputs of the open ``control_dependencies`` blocks, outermost first."""
        out: list[Operation] = []
        for ops in self._control_stack:
            out.extend(op for op in ops if op not in out)
        return out

    def get_operations(self) -> list[Operation]:
        """Every operation, in the order they were added."""
        return list(self.operations)

    def finalize(self) -> None:
        """Accepted for TensorFlow 1 compatibility; the graph stays growable."""

    def unique_name(self, base: str, scoped: bool = True) -> str:
        """``base`` inside the current name scope (unless ``scoped`` is False), with ``_1``,
        ``_2``, ... on collision."""
        base = base.strip("/") or "node"
        if not _VALID_NAME.match(base):
            base = re.sub(r"[^A-Za-z0-9_.\-/]", "_", base)
            if not _VALID_NAME.match(base):
                base = "n" + base
        full = "/".join([*self._scopes, base]) if scoped else base
        if full not in self._by_name:
            return full
        k = 1
        while f"{full}_{k}" in self._by_name:
            k += 1
        return f"{full}_{k}"

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[str]:
        """Prefixes the names of operations built inside with ``name/``."""
        scope = self.unique_scope(name)
        self._scopes.append(scope.split("/")[-1] if self._scopes else scope)
        try:
            yield "/".join(self._scopes)
        finally:
            self._scopes.pop()

    def unique_scope(self, name: str) -> str:
        """A scope name not used by any operation yet (``name``, ``name_1``, ...)."""
        prefix = "/".join(self._scopes)
        full = f"{prefix}/{name}" if prefix else name

        def taken(n: str) -> bool:
            return n in self._by_name or any(k.startswith(n + "/") for k in self._by_name)

        if not taken(full):
            return full
        k = 1
        while taken(f"{full}_{k}"):
            k += 1
        return f"{full}_{k}"

    def rename(self, op: Operation, base: str, keep_scope: bool = True) -> str:
        """Renames an unsent operation to ``base`` in its own name scope (``keep_scope``) or
        to the full name ``base``, made unique.

        Outputs and users follow automatically (inputs refer to tensors, not names).
        Returns the new name; ValueError if the operation was already sent to a worker.
        """
        with self._lock:
            if op.sent:
                raise ValueError(f"operation {op.name!r} was already sent to a worker; it cannot be renamed")
            if self._by_name.get(op.name) is not op:
                raise ValueError(f"operation {op.name!r} is not in this graph")
            scope = op.name.rpartition("/")[0]
            wanted = f"{scope}/{base}" if scope and keep_scope else base
            if wanted == op.name:
                return op.name
            del self._by_name[op.name]
            new = self.unique_name(wanted, scoped=False)
            op.name = new
            self._by_name[new] = op
            return new

    def add(self, op: Operation) -> Operation:
        """Appends an operation; ValueError if its name is taken."""
        with self._lock:
            if op.name in self._by_name:
                raise ValueError(f"the graph already has an operation named {op.name!r}")
            self.operations.append(op)
            self._by_name[op.name] = op
        return op

    def get_operation_by_name(self, name: str) -> Operation:
        """The operation called ``name``; KeyError if none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"the graph has no operation named {name!r}") from None

    def get_tensor_by_name(self, name: str) -> Tensor:
        """The tensor ``"node:k"``; KeyError if none."""
        node, _, index = name.rpartition(":")
        if not node or not index.isdigit():
            raise KeyError(f"{name!r} is not a tensor name of the form 'node:k'")
        op = self.get_operation_by_name(node)
        if int(index) >= len(op.outputs):
            raise KeyError(f"operation {node!r} has {len(op.outputs)} output(s)")
        return op.outputs[int(index)]

    def __len__(self) -> int:
        return len(self.operations)

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        """Makes this the default graph inside the ``with`` block."""
        _DEFAULT.stack.append(self)
        try:
            yield self
        finally:
            _DEFAULT.stack.pop()


class _DefaultGraph(threading.local):
    def __init__(self) -> None:
        self.stack: list[Graph] = []


_DEFAULT = _DefaultGraph()
_GLOBAL_GRAPH = [Graph()]


def _run(fetches: Any, feed_dict: Any, session: Any, what: str) -> Any:
    link = worker_link()
    if link is None:
        raise ValueError(f"{what}: no session is available (import gentf.tf)")
    return link.run(fetches, feed_dict, session, what)


def get_default_graph() -> Graph:
    """The innermost graph of ``with graph.as_default()``, else the global default graph."""
    return _DEFAULT.stack[-1] if _DEFAULT.stack else _GLOBAL_GRAPH[0]


def reset_default_graph() -> Graph:
    """Replaces the global default graph with a new empty one and returns it."""
    _GLOBAL_GRAPH[0] = Graph()
    return _GLOBAL_GRAPH[0]
