"""``tf.raw_ops``: every registered op by name, with keyword arguments as in TensorFlow.

``tf.raw_ops.MatMul(a=x, b=w, transpose_b=True)`` builds a MatMul node and returns its
output (a Tensor), its outputs (a list) when it has several, or the Operation when it
has none. Argument names are the op definition's; a Python keyword gets a trailing
underscore (``lambda_``).
"""

from __future__ import annotations

import inspect
import keyword
from typing import Any, Callable

from gentf.graph._apply import apply_op
from gentf.graph._core import Operation, Tensor
from gentf.graph._registry import registry

__all__ = ["RawOps", "make_op_function", "op_result"]


def _py_name(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) else name


def op_result(op: Operation) -> Any:
    """A Tensor for one output, a list for several, the Operation for none."""
    if not op.outputs:
        return op
    if len(op.outputs) == 1:
        return op.outputs[0]
    return list(op.outputs)


def make_op_function(op_name: str) -> Callable[..., Any]:
    """A keyword-only Python function building ``op_name`` nodes, with a real signature."""
    op_def = registry().get(op_name)
    input_names = [a.name for a in op_def.inputs]
    inferred = {a.number_attr for a in op_def.inputs if a.number_attr}
    inferred |= {a.type_attr for a in op_def.inputs if a.type_attr}
    inferred |= {a.type_list_attr for a in op_def.inputs if a.type_list_attr}
    attr_names = [a.name for a in op_def.attrs if a.name not in inferred]
    params = [inspect.Parameter(_py_name(n), inspect.Parameter.KEYWORD_ONLY) for n in input_names]
    for a in op_def.attrs:
        if a.name in inferred:
            continue
        default = inspect.Parameter.empty if not a.HasField("default_value") else None
        params.append(inspect.Parameter(_py_name(a.name), inspect.Parameter.KEYWORD_ONLY, default=default))
    params.append(inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None))

    def fn(**kwargs: Any) -> Any:
        name = kwargs.pop("name", None)
        inputs = []
        for n in input_names:
            key = _py_name(n)
            if key not in kwargs:
                raise TypeError(f"raw_ops.{op_name} missing input {key!r}")
            inputs.append(kwargs.pop(key))
        attrs = {}
        for n in attr_names + sorted(inferred):
            key = _py_name(n)
            if key in kwargs:
                attrs[n] = kwargs.pop(key)
        if kwargs:
            raise TypeError(f"raw_ops.{op_name} got unexpected argument(s) {sorted(kwargs)}")
        return op_result(apply_op(op_name, inputs, attrs, name=name))

    fn.__name__ = op_name
    fn.__qualname__ = f"raw_ops.{op_name}"
    fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    fn.__doc__ = op_def.summary + ("\n\n" + op_def.description if op_def.description else "")
    return fn


class RawOps:
    """Attribute access builds (and caches) the function for any registered op."""

    def __init__(self) -> None:
        self._cache: dict[str, Callable[..., Any]] = {}

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        fn = self._cache.get(name)
        if fn is None:
            if name not in registry():
                raise AttributeError(f"tf.raw_ops has no op {name!r}")
            fn = make_op_function(name)
            self._cache[name] = fn
        return fn

    def __dir__(self) -> list[str]:
        return registry().names()


_ = Tensor
