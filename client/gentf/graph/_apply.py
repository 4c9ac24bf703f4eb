"""Building one operation of any registered op: input conversion, attribute encoding and
type inference from the op's definition (as TensorFlow.jl does, without TensorFlow)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gentf.errors import InvalidArgumentError
from gentf.graph._core import DefaultName, Operation, Tensor, get_default_graph
from gentf.graph._registry import registry
from gentf.v1 import graph_pb2
from gentf.wire import DTYPES, as_dtype, encode_tensor
from gentf.wire._dtypes import DType

_KNOWN_ENUMS = {d.enum for d in DTYPES.values()}

__all__ = ["apply_op", "constant", "convert_to_tensor", "encode_attr", "shape_proto"]


def _default_dtype(value: Any) -> DType:
    """TensorFlow's conversion rule: Python floats -> float32, ints -> int32; numpy keeps its dtype."""
    if isinstance(value, (np.ndarray, np.generic)):
        return as_dtype(value.dtype)
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return as_dtype("float32")
    if arr.dtype.kind in ("i", "u"):
        if arr.size and (arr.max() > 2**31 - 1 or arr.min() < -(2**31)):
            return as_dtype("int64")
        return as_dtype("int32")
    if arr.dtype.kind == "c":
        return as_dtype("complex128")
    return as_dtype(arr.dtype)


def constant(value: Any, dtype: Any = None, shape: Any = None, name: str | None = None,
             default_name: str = "Const") -> Tensor:
    """``tf.constant``: a Const node holding ``value`` (converted to ``dtype`` if given).

    ``shape`` reshapes (or fills, for a scalar value) as TensorFlow does. The node is
    called ``name`` if given, else ``default_name`` (made unique). The value stays on the
    client as ``tensor.op.const_value`` (used for static shapes).
    """
    d = _default_dtype(value) if dtype is None else as_dtype(dtype)
    arr = np.asarray(value, dtype=object if d.name == "string" else d.as_numpy_dtype)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        arr = np.full(shape, arr, dtype=arr.dtype) if arr.size == 1 else arr.reshape(shape)
    graph = get_default_graph()
    attrs = {"value": graph_pb2.AttrValue(tensor=encode_tensor(arr, d)),
             "dtype": graph_pb2.AttrValue(type=d.enum)}  # type: ignore[arg-type]
    op = Operation(graph, graph.unique_name(name or default_name), "Const", [], [], attrs, [d],
                   graph.current_control_inputs())
    op.explicit_name = name is not None and not isinstance(name, DefaultName)
    op.const_value = arr  # type: ignore[attr-defined]
    graph.add(op)
    out = op.outputs[0]
    out.set_shape(arr.shape)
    return out


def convert_to_tensor(value: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """Returns ``value`` if it is a Tensor (or Variable: its value), else a constant of it.

    ``dtype``, when given, must match a Tensor's dtype (TypeError otherwise) and is the
    constant's dtype for anything else.
    """
    as_tensor = getattr(value, "_as_tensor", None)
    if as_tensor is not None:
        value = as_tensor()
    if isinstance(value, Tensor):
        if dtype is not None and as_dtype(dtype) is not value.dtype:
            raise TypeError(f"tensor {value.name!r} has dtype {value.dtype.name}, expected "
                            f"{as_dtype(dtype).name}")
        return value
    return constant(value, dtype=dtype, name=name)


def shape_proto(shape: Any) -> Any:
    """A wire TensorShape from a tuple/list (None or -1: unknown dimension) or None (unknown rank)."""
    from gentf.v1 import tensor_pb2

    if shape is None:
        return tensor_pb2.TensorShape(unknown_rank=True)
    return tensor_pb2.TensorShape(dims=[-1 if d is None else int(d) for d in shape])


def encode_attr(attr_type: str, value: Any) -> graph_pb2.AttrValue:
    """Encodes a Python value as a wire AttrValue of TensorFlow's ``attr_type``."""
    out = graph_pb2.AttrValue()
    if attr_type.startswith("list("):
        inner = attr_type[5:-1]
        items = list(value)
        lst = out.list
        lst.SetInParent()
        for item in items:
            one = encode_attr(inner, item)
            kind = one.WhichOneof("value")
            getattr(lst, kind).append(getattr(one, kind))
        return out
    if attr_type == "string":
        out.s = value.encode() if isinstance(value, str) else bytes(value)
    elif attr_type == "int":
        out.i = int(value)
    elif attr_type == "float":
        out.f = float(value)
    elif attr_type == "bool":
        out.b = bool(value)
    elif attr_type == "type":
        out.type = as_dtype(value).enum  # type: ignore[assignment]
    elif attr_type == "shape":
        out.shape.CopyFrom(shape_proto(value))
    elif attr_type == "tensor":
        out.tensor.CopyFrom(encode_tensor(value))
    else:
        raise TypeError(f"attributes of type {attr_type!r} are not supported by the gentf client")
    return out


def _attr_default(op_def: graph_pb2.OpDef, name: str) -> Any:
    for a in op_def.attrs:
        if a.name == name and a.HasField("default_value"):
            v = a.default_value
            kind = v.WhichOneof("value")
            if kind == "type":
                return as_dtype(int(v.type))
            if kind == "list":
                return [as_dtype(int(t)) for t in v.list.type] if v.list.type else []
            if kind == "i":
                return int(v.i)
    return None


def _allowed_types(op_def: graph_pb2.OpDef, name: str) -> list[DType] | None:
    for a in op_def.attrs:
        if a.name == name and a.HasField("allowed_values") and a.allowed_values.list.type:
            return [as_dtype(int(t)) for t in a.allowed_values.list.type if int(t) in _KNOWN_ENUMS]
    return None


def apply_op(
    op_type: str,
    inputs: Sequence[Any],
    attrs: Mapping[str, Any] | None = None,
    name: str | None = None,
    control_inputs: Sequence[Any] = (),
    full_name: str | None = None,
    default_name: str | None = None,
) -> Operation:
    """Adds one ``op_type`` node to the default graph and returns its operation.

    ``inputs`` follow the op definition's input order; a list input takes a sequence.
    Non-tensor inputs become constants of the dtype the op needs there. Type attributes
    (``T``, ``N``, ...) are inferred from the inputs; other attributes are encoded from
    Python values. ``name`` is placed in the current name scope; ``full_name`` is used as
    given (made unique); without either the node is called ``default_name`` or
    ``op_type``. Raises TypeError or InvalidArgumentError naming the op and argument.
    Static output shapes are inferred on the client for common ops (see ``_shapes``).
    """
    op_def = registry().get(op_type)
    if len(inputs) != len(op_def.inputs):
        names = [a.name for a in op_def.inputs]
        raise TypeError(f"{op_type} takes {len(op_def.inputs)} input(s) {names}, got {len(inputs)}")
    attr_defs = {a.name: a for a in op_def.attrs}
    values: dict[str, Any] = {}
    for key, value in (attrs or {}).items():
        if key not in attr_defs:
            raise InvalidArgumentError(f"{op_type} has no attribute {key!r} (it has {sorted(attr_defs)})")
        if value is not None:
            values[key] = value
    graph = get_default_graph()

    # Pass 1: infer type attributes from inputs that are already tensors.
    def tensors_of(value: Any) -> list[Tensor]:
        items = value if isinstance(value, (list, tuple)) else [value]
        out = []
        for item in items:
            as_tensor = getattr(item, "_as_tensor", None)
            item = as_tensor() if as_tensor is not None else item
            if isinstance(item, Tensor):
                out.append(item)
        return out

    for arg, value in zip(op_def.inputs, inputs):
        if arg.number_attr:
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"{op_type} input {arg.name!r} takes a list of tensors")
            values.setdefault(arg.number_attr, len(value))
        if arg.type_attr:
            for t in tensors_of(value):
                _bind_type(values, arg.type_attr, t.dtype, op_type, arg.name)
        if arg.type_list_attr and isinstance(value, (list, tuple)):
            ts = tensors_of(value)
            if len(ts) == len(value):
                values.setdefault(arg.type_list_attr, [t.dtype for t in ts])

    # Pass 2: convert everything to tensors of the needed dtype.
    flat: list[Tensor] = []
    groups: list[int] = []
    for arg, value in zip(op_def.inputs, inputs):
        items = list(value) if (arg.number_attr or arg.type_list_attr) else [value]
        if arg.type_list_attr and not isinstance(value, (list, tuple)):
            raise TypeError(f"{op_type} input {arg.name!r} takes a list of tensors")
        converted = []
        for k, item in enumerate(items):
            if arg.type:
                want: DType | None = as_dtype(int(arg.type))
            elif arg.type_attr:
                want = values.get(arg.type_attr) or _attr_default(op_def, arg.type_attr)
            elif arg.type_list_attr and arg.type_list_attr in values:
                want = as_dtype(values[arg.type_list_attr][k])
            else:
                want = None
            as_tensor = getattr(item, "_as_tensor", None)
            if arg.type == 20 and hasattr(item, "handle"):  # a resource input takes a variable's handle
                item = item.handle
            elif as_tensor is not None:
                item = as_tensor()
            if isinstance(item, Tensor):
                if want is not None and item.dtype is not want:
                    raise TypeError(f"{op_type} input {arg.name!r} expects {want.name}, got tensor "
                                    f"{item.name!r} of dtype {item.dtype.name}")
                if item.graph is not graph:
                    raise ValueError(f"tensor {item.name!r} belongs to another graph")
                t = item
            else:
                t = constant(item, dtype=want)
                if arg.type_attr and arg.type_attr not in values:
                    values[arg.type_attr] = t.dtype
            converted.append(t)
        if arg.type_list_attr and arg.type_list_attr not in values:
            values[arg.type_list_attr] = [t.dtype for t in converted]
        if arg.number_attr:
            dtypes = {t.dtype.name for t in converted}
            if len(dtypes) > 1:
                raise TypeError(f"{op_type} input {arg.name!r}: list elements must share one dtype, got {sorted(dtypes)}")
        flat.extend(converted)
        groups.append(len(converted))

    # Type checks against allowed values; required attributes present.
    for key, attr_def in attr_defs.items():
        if key not in values:
            if not attr_def.HasField("default_value"):
                raise InvalidArgumentError(f"{op_type} needs attribute {key!r} ({attr_def.type})")
            continue
        if attr_def.type == "type":
            values[key] = as_dtype(values[key])
            allowed = _allowed_types(op_def, key)
            if allowed is not None and values[key] not in allowed:
                raise TypeError(f"{op_type} does not accept dtype {values[key].name} for {key!r}; "
                                f"allowed: {[d.name for d in allowed]}")

    # Outputs.
    out_dtypes: list[DType] = []
    for arg in op_def.outputs:
        if arg.type:
            dt = as_dtype(int(arg.type))
        elif arg.type_attr:
            dt = values.get(arg.type_attr) or _attr_default(op_def, arg.type_attr)
        else:
            dt = None
        if arg.number_attr:
            count = int(values.get(arg.number_attr, _attr_default(op_def, arg.number_attr) or 0))
            out_dtypes.extend([dt] * count)  # type: ignore[list-item]
        elif arg.type_list_attr:
            out_dtypes.extend(as_dtype(d) for d in values.get(arg.type_list_attr, []))
        else:
            out_dtypes.append(dt)  # type: ignore[arg-type]
    if any(d is None for d in out_dtypes):
        raise InvalidArgumentError(f"{op_type}: cannot infer the output dtypes from the inputs")

    encoded = {key: encode_attr(attr_defs[key].type, v) for key, v in values.items()}
    controls = [c.op if isinstance(c, Tensor) else getattr(c, "op", c) for c in control_inputs]
    input_ops = {id(t.op) for t in flat}
    controls += [c for c in graph.current_control_inputs()
                 if c not in controls and id(c) not in input_ops]
    if full_name:
        node_name = graph.unique_name(full_name, scoped=False)
    else:
        node_name = graph.unique_name(name or default_name or op_type)
    op = Operation(graph, node_name, op_type, flat, groups, encoded,
                   out_dtypes, controls)
    op.explicit_name = bool(full_name) or (bool(name) and not isinstance(name, DefaultName))
    from gentf.graph._shapes import infer_shapes

    infer_shapes(op, values)  # raises at the user's line when the shapes cannot fit
    graph.add(op)
    return op


def _bind_type(values: dict[str, Any], attr: str, dtype: DType, op_type: str, arg: str) -> None:
    bound = values.get(attr)
    if bound is None:
        values[attr] = dtype
    elif as_dtype(bound) is not dtype:
        raise TypeError(f"{op_type} input {arg!r} has dtype {dtype.name}, but {attr} is already "
                        f"{as_dtype(bound).name} from another input")
