"""Bindings for every registered op, generated from the op registry at first use.

Two namespaces, like TensorFlow's own Python client:

* ``tf.raw_ops.MatMul(a=x, b=w, transpose_b=True)``: keyword-only, the op's own names.
* ``tf.ops.mat_mul(x, w, transpose_b=True)``: TensorFlow's ``gen_*_ops`` spelling, inputs
  positional, attributes keyword arguments with the op's defaults.

Each binding has a real ``inspect.signature`` (inputs, then the attributes that are not
inferred from the inputs, then ``name``), a docstring from the op's summary and
description, and escapes argument names that are Python keywords (``lambda`` ->
``lambda_``). A binding returns the output Tensor, a list for several outputs (or a list
input's worth), or the Operation for none. Required attributes are checked before any
node is built; type attributes (``T``, ``N``, ...) are inferred from the inputs.
:func:`import_op` builds the binding of any op by name at run time, fetching its
definition from a worker when the client has never seen it.
"""

from __future__ import annotations

import inspect
import keyword
import re
from collections.abc import Callable
from typing import Any

from gentf.errors import InvalidArgumentError
from gentf.graph._apply import apply_op
from gentf.graph._core import Operation, Tensor
from gentf.graph._registry import registry
from gentf.graph._worker import worker_link
from gentf.v1 import graph_pb2
from gentf.wire import as_dtype

__all__ = ["GeneratedOps", "RawOps", "attr_python_value", "import_op", "make_op_function",
           "op_result", "py_name", "snake_case"]


def py_name(name: str) -> str:
    """An OpDef argument name usable as a Python parameter (``lambda`` -> ``lambda_``)."""
    return f"{name}_" if keyword.iskeyword(name) or name == "name" else name


def snake_case(op_name: str) -> str:
    """TensorFlow's Python name of an op: ``MatMul`` -> ``mat_mul``, ``Conv2D`` -> ``conv2d``."""
    out: list[str] = []
    for i, c in enumerate(op_name):
        if c.isupper() and i > 0:
            prev, nxt = op_name[i - 1], op_name[i + 1] if i + 1 < len(op_name) else ""
            if (prev.islower() or (nxt.islower() and prev != "_")) and prev != "_":
                out.append("_")
        out.append(c.lower())
    return "".join(out)


def op_result(op: Operation) -> Any:
    """A Tensor for one output, a list for several, the Operation for none."""
    if not op.outputs:
        return op
    if len(op.outputs) == 1:
        return op.outputs[0]
    return list(op.outputs)


def attr_python_value(value: graph_pb2.AttrValue) -> Any:
    """A wire AttrValue as a Python value (str, int, float, bool, DType, shape tuple, list)."""
    kind = value.WhichOneof("value")
    if kind == "s":
        return value.s.decode(errors="replace")
    if kind in ("i", "f", "b"):
        return getattr(value, kind)
    if kind == "type":
        return as_dtype(int(value.type))
    if kind == "shape":
        return None if value.shape.unknown_rank else tuple(None if d < 0 else int(d) for d in value.shape.dims)
    if kind == "list":
        lst = value.list
        if lst.type:
            return [as_dtype(int(t)) for t in lst.type]
        for field in ("s", "i", "f", "b"):
            items = list(getattr(lst, field))
            if items:
                return [x.decode(errors="replace") for x in items] if field == "s" else items
        if lst.shape:
            return [None if s.unknown_rank else tuple(None if d < 0 else int(d) for d in s.dims)
                    for s in lst.shape]
        return []
    return None


def _inferred_attrs(op_def: graph_pb2.OpDef) -> set[str]:
    inferred = {a.number_attr for a in op_def.inputs if a.number_attr}
    inferred |= {a.type_attr for a in op_def.inputs if a.type_attr}
    inferred |= {a.type_list_attr for a in op_def.inputs if a.type_list_attr}
    return inferred


def _arg_type(op_def: graph_pb2.OpDef, arg: graph_pb2.ArgDef) -> str:
    if arg.type:
        kind = as_dtype(int(arg.type)).name
    else:
        kind = arg.type_attr or arg.type_list_attr or "?"
    if arg.number_attr:
        return f"list of {arg.number_attr} tensors of {kind}"
    if arg.type_list_attr:
        return f"list of tensors of types {kind}"
    return f"tensor of {kind}"


def _docstring(op_def: graph_pb2.OpDef, call: str) -> str:
    lines = [op_def.summary or f"The {op_def.name} op.", ""]
    if op_def.description:
        lines += [op_def.description, ""]
    lines.append(f"Builds one ``{op_def.name}`` node: ``{call}``.")
    if op_def.refused:
        lines.append("The worker refuses this op (it reaches files, processes or network).")
    if op_def.inputs or op_def.attrs:
        lines += ["", "Args:"]
        for arg in op_def.inputs:
            desc = f" {arg.description}" if arg.description else ""
            lines.append(f"    {py_name(arg.name)}: {_arg_type(op_def, arg)}.{desc}")
        inferred = _inferred_attrs(op_def)
        for a in op_def.attrs:
            if a.name in inferred:
                continue
            desc = f" {a.description}" if a.description else ""
            lines.append(f"    {py_name(a.name)}: attribute of type {a.type}.{desc}")
        lines.append("    name: node name (default: the op's name, made unique).")
    if op_def.outputs:
        lines += ["", "Returns:"]
        for arg in op_def.outputs:
            desc = f" {arg.description}" if arg.description else ""
            lines.append(f"    {arg.name}: {_arg_type(op_def, arg)}.{desc}")
    return "\n".join(lines)


def make_op_function(op_name: str, positional: bool = False) -> Callable[..., Any]:
    """The Python binding of ``op_name``, with a real signature and docstring.

    ``positional=False``: every argument keyword-only (``tf.raw_ops`` style);
    ``positional=True``: inputs may be positional (``tf.ops`` style). Attribute defaults
    in the signature are the op's own; a value equal to the default is not encoded.
    """
    op_def = registry().get(op_name)
    input_names = [a.name for a in op_def.inputs]
    inferred = _inferred_attrs(op_def)
    input_kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if positional else inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter(py_name(n), input_kind) for n in input_names]
    defaults: dict[str, Any] = {}
    required: list[str] = []
    attr_names: list[str] = []
    for a in op_def.attrs:
        if a.name in inferred:
            continue
        attr_names.append(a.name)
        if a.HasField("default_value"):
            default = attr_python_value(a.default_value)
            defaults[a.name] = default
        else:
            default = inspect.Parameter.empty
            required.append(a.name)
        params.append(inspect.Parameter(py_name(a.name), inspect.Parameter.KEYWORD_ONLY, default=default))
    params.append(inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None))
    signature = inspect.Signature(params)
    label = snake_case(op_name) if positional else f"raw_ops.{op_name}"

    def binding(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{label}: {exc}") from None
        given = bound.arguments
        missing = [py_name(n) for n in input_names if py_name(n) not in given]
        if missing:
            raise TypeError(f"{label}() missing input(s) {missing}")
        absent = [py_name(n) for n in required if py_name(n) not in given]
        if absent:
            raise InvalidArgumentError(f"{label}() needs attribute(s) {absent} (the op has no default)")
        inputs = [given[py_name(n)] for n in input_names]
        attrs: dict[str, Any] = {}
        for n in attr_names:
            key = py_name(n)
            if key in given and not (n in defaults and _same(given[key], defaults[n])):
                attrs[n] = given[key]
        return op_result(apply_op(op_name, inputs, attrs, name=given.get("name")))

    binding.__name__ = snake_case(op_name) if positional else op_name
    binding.__qualname__ = label
    binding.__signature__ = signature  # type: ignore[attr-defined]
    binding.__doc__ = _docstring(op_def, f"{label}{signature}")
    binding.op_def = op_def  # type: ignore[attr-defined]
    return binding


def _same(value: Any, default: Any) -> bool:
    try:
        if isinstance(default, (list, tuple)) or isinstance(value, (list, tuple)):
            return list(value) == list(default)
        return bool(value == default) and type(value) is type(default)
    except (TypeError, ValueError):
        return False


class RawOps:
    """Attribute access builds (and caches) the keyword-only binding of any registered op.

    ``dir()`` lists every op; bindings are rebuilt when the registry changes (a worker
    with another TensorFlow).
    """

    _positional = False

    def __init__(self) -> None:
        self._cache: dict[str, Callable[..., Any]] = {}
        self._generation = -1
        self._names: dict[str, str] = {}

    def _op_name(self, attr: str) -> str | None:
        return attr if attr in registry() else None

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        if attr.startswith("__"):
            raise AttributeError(attr)
        reg = registry()
        if self._generation != reg.generation:
            self._cache.clear()
            self._names.clear()
            self._generation = reg.generation
        fn = self._cache.get(attr)
        if fn is None:
            op_name = self._op_name(attr)
            if op_name is None:
                raise AttributeError(f"{type(self).__name__.lower()} has no op {attr!r}; "
                                     f"tf.import_op({attr!r}) asks the worker")
            fn = make_op_function(op_name, positional=self._positional)
            self._cache[attr] = fn
        return fn

    def __dir__(self) -> list[str]:
        return registry().names()


class GeneratedOps(RawOps):
    """``tf.ops.<snake_case>``: TensorFlow's ``gen_*_ops`` names, inputs positional.

    ``tf.ops.mat_mul(a, b, transpose_b=True)``; CamelCase names work too.
    """

    _positional = True

    def _snake_index(self) -> dict[str, str]:
        if not self._names:
            for op in registry().names():
                self._names.setdefault(snake_case(op), op)
        return self._names

    def _op_name(self, attr: str) -> str | None:
        if attr in registry():
            return attr
        return self._snake_index().get(attr)

    def __dir__(self) -> list[str]:
        return sorted(self._snake_index())


def import_op(op_name: str, session: Any = None, positional: bool = True) -> Callable[..., Any]:
    """The binding of ``op_name``, importing its definition at run time if needed.

    An op the client's registry lacks is fetched from the worker of ``session`` (default:
    the default session) with one GetOpRegistry call and added to the registry.
    InvalidArgumentError if the worker has no such op either.
    """
    if op_name not in registry():
        from gentf.v1 import worker_pb2

        link = worker_link()
        sess = session or (None if link is None else link.default_session())
        if sess is None:
            raise InvalidArgumentError(f"unknown op {op_name!r}, and no session to ask a worker")
        reply = sess.call("GetOpRegistry", worker_pb2.GetOpRegistryRequest(names=[op_name]))
        if not any(op.name == op_name for op in reply.ops):
            raise InvalidArgumentError(f"the worker's TensorFlow has no op {op_name!r}")
        reply.tensorflow_version = ""  # a partial registry does not change the fingerprint
        registry().install(reply)
    return make_op_function(op_name, positional=positional)


_ = (Tensor, re)
