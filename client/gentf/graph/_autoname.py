"""Names for free: nodes named after the Python variables they are assigned to.

TensorFlow.jl's ``@tf`` macro, in Python: inside ``with tf.auto_name():`` (or in a function
decorated with ``@tf.auto_name``), ``probs = tf.nn.softmax(logits)`` gives the node
``probs``. On leaving the block (or returning from the function), every local variable that
holds a Tensor, Variable or Operation created inside it, whose name the user did not choose,
is renamed after the variable, inside its name scope and made unique (``probs_1``). Lists
and tuples of tensors give ``name_0``, ``name_1``, ... A Variable ``W`` gives the nodes
``W`` and ``W/read``. Only the node a variable holds is renamed, not the intermediate nodes
that built it.

Renaming happens before anything is sent to a worker: a node a session has already sent
(a ``sess.run`` inside the block) keeps its name.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Callable
from typing import Any, TypeVar

from gentf.graph._core import Graph, Operation, Tensor, get_default_graph

__all__ = ["auto_name", "name_locals"]

F = TypeVar("F", bound=Callable[..., Any])


def _ops_of(value: Any) -> list[tuple[Operation, Any]]:
    """(operation to rename, the Variable owning it or None) for one local value."""
    handle = getattr(value, "handle", None)
    if isinstance(handle, Tensor) and hasattr(value, "_as_tensor"):
        return [(handle.op, value)]
    if isinstance(value, Tensor):
        return [(value.op, None)]
    if isinstance(value, Operation):
        return [(value, None)]
    return []


def name_locals(graph: Graph, start: int, local_vars: dict[str, Any]) -> dict[str, str]:
    """Renames operations ``graph.operations[start:]`` held by ``local_vars``; returns
    ``{old name: new name}``. Skips private names (``_x``), explicit names and sent nodes."""
    new_ops = {id(op) for op in graph.operations[start:]}
    renamed: dict[str, str] = {}
    done: set[int] = set()
    for var, value in list(local_vars.items()):
        if var.startswith("_"):
            continue
        if isinstance(value, (list, tuple)):
            entries = [(f"{var}_{k}", item) for k, item in enumerate(value)]
        else:
            entries = [(var, value)]
        for base, item in entries:
            for op, variable in _ops_of(item):
                if id(op) not in new_ops or id(op) in done or op.explicit_name or op.sent:
                    continue
                done.add(id(op))
                old = op.name
                if variable is not None:
                    read = variable.value().op
                    if read.sent:
                        continue
                    new = graph.rename(op, base)
                    if "shared_name" in op.attrs:
                        op.attrs["shared_name"].s = new.encode()
                    graph.rename(read, new + "/read", keep_scope=False)
                else:
                    new = graph.rename(op, base)
                if new != old:
                    renamed[old] = new
    return renamed


class auto_name:
    """``with tf.auto_name():`` or ``@tf.auto_name``: name new nodes after the local
    variables they are assigned to (see the module docstring).

    ``graph`` defaults to the default graph when the block starts. After the block,
    ``renamed`` maps old node names to new ones.
    """

    def __init__(self, fn: Callable[..., Any] | None = None, graph: Graph | None = None) -> None:
        self._fn = fn
        self._graph = graph
        self._start = 0
        self.renamed: dict[str, str] = {}
        if fn is not None:
            functools.update_wrapper(self, fn)

    def __enter__(self) -> auto_name:  # noqa: PYI034
        self._active = self._graph or get_default_graph()
        self._start = len(self._active.operations)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            frame = sys._getframe(1)
            self.renamed = name_locals(self._active, self._start, dict(frame.f_locals))

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else types.MethodType(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._fn is None:
            if len(args) == 1 and callable(args[0]) and not kwargs:
                return auto_name(args[0], self._graph)
            raise TypeError("auto_name() takes a function to decorate")
        return self._call_named(self._fn, args, kwargs)

    def _call_named(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        graph = self._graph or get_default_graph()
        start = len(graph.operations)
        code = fn.__code__
        captured: dict[str, Any] = {}
        previous = sys.getprofile()

        def profiler(frame: types.FrameType, event: Any, arg: Any) -> None:
            if event == "return" and frame.f_code is code:
                captured.clear()
                captured.update(frame.f_locals)
            if previous is not None:
                previous(frame, event, arg)

        sys.setprofile(profiler)
        try:
            result = fn(*args, **kwargs)
        finally:
            sys.setprofile(previous)
        self.renamed = name_locals(graph, start, captured)
        return result
