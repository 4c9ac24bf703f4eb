"""TensorFlow's array ops by TensorFlow 2's names: stacking, splitting, gathering, padding,
tiling, ranges, one-hot, ``where``, slicing and the like."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import DefaultName, Tensor
from gentf.graph._ops import cast, reshape
from gentf.graph._raw_ops import op_result
from gentf.graph._shapes import const_value
from gentf.wire import as_dtype

__all__ = [
    "boolean_mask", "broadcast_to", "clip_by_value", "einsum", "eye", "gather", "gather_nd",
    "is_tensor", "linspace", "one_hot", "pad", "range", "reverse", "scatter_nd", "size",
    "slice", "split", "stack", "strided_slice", "tensor_scatter_nd_update", "tile", "unstack",
    "where",
]

_range = range
_slice = slice


def _is_tensor_like(x: Any) -> bool:
    return isinstance(x, Tensor) or hasattr(x, "_as_tensor")


def _t(x: Any, dtype: Any = None) -> Tensor:
    return convert_to_tensor(x, dtype=dtype)


def _int_tensor(x: Any, dtype: str = "int32") -> Tensor:
    """``x`` as an integer tensor: tensors pass through, Python/numpy values become ``dtype``."""
    if _is_tensor_like(x):
        return _t(x)
    return constant(np.asarray(x, dtype=dtype))


def is_tensor(x: Any) -> bool:
    """``tf.is_tensor(x)``: True for gentf Tensors and Variables."""
    return _is_tensor_like(x)


def stack(values: Sequence[Any], axis: int = 0, name: str | None = None) -> Tensor:
    """``tf.stack(values, axis=0)``: packs same-shaped tensors along a new ``axis``."""
    tensors = _same_dtype(values)
    return apply_op("Pack", [tensors], {"axis": int(axis)}, name=name).outputs[0]


def _same_dtype(values: Sequence[Any]) -> list[Tensor]:
    ref = next((v for v in values if _is_tensor_like(v)), None)
    dtype = _t(ref).dtype if ref is not None else None
    return [_t(v, dtype) if not _is_tensor_like(v) else _t(v) for v in values]


def unstack(value: Any, num: int | None = None, axis: int = 0, name: str | None = None) -> list[Tensor]:
    """``tf.unstack(value, num=None, axis=0)``: the slices along ``axis`` as a list.

    ``num`` defaults to the static size of that dimension (ValueError if unknown).
    """
    x = _t(value)
    if num is None:
        if x.shape is None or x.shape[axis] is None:
            raise ValueError(f"tf.unstack: the size of axis {axis} of {x.name!r} is not known; pass num=")
        num = int(x.shape[axis])  # type: ignore[arg-type]
    op = apply_op("Unpack", [x], {"num": int(num), "axis": int(axis)}, name=name)
    return list(op.outputs)


def split(value: Any, num_or_size_splits: Any, axis: int = 0, num: int | None = None,
          name: str | None = None) -> list[Tensor]:
    """``tf.split(value, num_or_size_splits, axis=0)``: an int splits evenly, a list gives sizes."""
    x = _t(value)
    if isinstance(num_or_size_splits, (int, np.integer)):
        op = apply_op("Split", [constant(np.int32(axis)), x], {"num_split": int(num_or_size_splits)}, name=name)
        return list(op.outputs)
    sizes = np.asarray(num_or_size_splits, dtype=np.int32).reshape(-1)
    op = apply_op("SplitV", [x, constant(sizes), constant(np.int32(axis))],
                  {"num_split": int(num if num is not None else len(sizes))}, name=name)
    return list(op.outputs)


def gather(params: Any, indices: Any, validate_indices: Any = None, axis: int | Any = None,
           batch_dims: int = 0, name: str | None = None) -> Tensor:
    """``tf.gather(params, indices, axis=None, batch_dims=0)``: slices at ``indices`` along ``axis`` (default 0)."""
    p = _t(params)
    i = _int_tensor(indices)
    ax = _int_tensor(0 if axis is None else axis, dtype=i.dtype.name)
    return apply_op("GatherV2", [p, i, ax], {"batch_dims": int(batch_dims)}, name=name).outputs[0]


def gather_nd(params: Any, indices: Any, batch_dims: int = 0, name: str | None = None) -> Tensor:
    """``tf.gather_nd(params, indices)``: slices at the multi-indices in the last dimension of ``indices``."""
    if batch_dims:
        raise NotImplementedError("gather_nd with batch_dims is not supported by the gentf client")
    return apply_op("GatherNd", [_t(params), _int_tensor(indices)], name=name).outputs[0]


def boolean_mask(tensor: Any, mask: Any, axis: int | None = None, name: str | None = None) -> Tensor:
    """``tf.boolean_mask(tensor, mask)``: the entries (or sub-arrays) where ``mask`` is true.

    ``mask`` of rank k covers the first k dimensions; the result has shape
    ``[count, *tensor.shape[k:]]``.
    """
    if axis not in (None, 0):
        raise NotImplementedError("boolean_mask with axis != 0 is not supported by the gentf client")
    m = _t(mask, "bool")
    coords = apply_op("Where", [m]).outputs[0]
    return apply_op("GatherNd", [_t(tensor), coords], name=name or DefaultName("boolean_mask")).outputs[0]


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """``tf.where(condition, x=None, y=None)``: with x and y, elementwise choice (broadcast);
    without, the int64 coordinates of the true entries, shape ``[count, rank]``."""
    c = _t(condition, "bool")
    if x is None and y is None:
        return apply_op("Where", [c], name=name).outputs[0]
    if x is None or y is None:
        raise ValueError("tf.where needs both x and y, or neither")
    xt, yt = _same_dtype([x, y])
    return apply_op("SelectV2", [c, xt, yt], name=name).outputs[0]


def one_hot(indices: Any, depth: int, on_value: Any = None, off_value: Any = None,
            axis: int | None = None, dtype: Any = None, name: str | None = None) -> Tensor:
    """``tf.one_hot(indices, depth, on_value=1, off_value=0, axis=-1, dtype=float32)``."""
    if dtype is None:
        ref = on_value if _is_tensor_like(on_value) else off_value
        dtype = _t(ref).dtype if _is_tensor_like(ref) else "float32"
    d = as_dtype(dtype)
    on = _t(1 if on_value is None else on_value, d)
    off = _t(0 if off_value is None else off_value, d)
    return apply_op("OneHot", [_int_tensor(indices), constant(np.int32(depth)), on, off],
                    {"axis": -1 if axis is None else int(axis)}, name=name).outputs[0]


def range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None,
          name: str | None = None) -> Tensor:
    """``tf.range(start, limit=None, delta=1, dtype=None)``: like Python's range; with one
    argument it is the limit. The dtype is inferred as TensorFlow does (floats -> float32)."""
    if limit is None:
        start, limit = 0, start
    values = [start, limit, delta]
    if dtype is None:
        tensors = [_t(v) for v in values if _is_tensor_like(v)]
        if tensors:
            dtype = tensors[0].dtype
        elif any(isinstance(v, float) or (isinstance(v, np.ndarray) and v.dtype.kind == "f") for v in values):
            dtype = "float32"
        else:
            dtype = "int32"
    d = as_dtype(dtype)
    args = [cast(v, d) if _is_tensor_like(v) else constant(np.asarray(v, d.as_numpy_dtype)) for v in values]
    out = apply_op("Range", args, name=name or DefaultName("range")).outputs[0]
    if all(not _is_tensor_like(v) for v in values):
        out.set_shape((len(np.arange(start, limit, delta)),))
    return out


def tile(input: Any, multiples: Any, name: str | None = None) -> Tensor:
    """``tf.tile(input, multiples)``: repeats the tensor ``multiples[k]`` times along dimension k."""
    return apply_op("Tile", [_t(input), _int_tensor(multiples)], name=name).outputs[0]


def pad(tensor: Any, paddings: Any, mode: str = "CONSTANT", constant_values: Any = 0,
        name: str | None = None) -> Tensor:
    """``tf.pad(tensor, paddings, mode="CONSTANT", constant_values=0)``; ``paddings`` is
    ``[[before, after], ...]``; mode CONSTANT, REFLECT or SYMMETRIC."""
    x = _t(tensor)
    p = _int_tensor(paddings)
    mode = mode.upper()
    if mode == "CONSTANT":
        if not _is_tensor_like(constant_values) and np.all(np.asarray(constant_values) == 0):
            return apply_op("Pad", [x, p], name=name).outputs[0]
        return apply_op("PadV2", [x, p, _t(constant_values, x.dtype)], name=name).outputs[0]
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise ValueError(f"tf.pad: unknown mode {mode!r} (CONSTANT, REFLECT or SYMMETRIC)")
    return apply_op("MirrorPad", [x, p], {"mode": mode}, name=name).outputs[0]


def slice(input_: Any, begin: Any, size: Any, name: str | None = None) -> Tensor:
    """``tf.slice(input_, begin, size)``: ``size[k] == -1`` takes the rest of dimension k."""
    return apply_op("Slice", [_t(input_), _int_tensor(begin), _int_tensor(size)], name=name).outputs[0]


def strided_slice(input_: Any, begin: Any, end: Any, strides: Any = None, begin_mask: int = 0,
                  end_mask: int = 0, ellipsis_mask: int = 0, new_axis_mask: int = 0,
                  shrink_axis_mask: int = 0, name: str | None = None) -> Tensor:
    """``tf.strided_slice(input_, begin, end, strides=None, ...masks)``: TensorFlow's
    general slicing op (what ``tensor[...]`` builds)."""
    b = _int_tensor(begin)
    e = _int_tensor(end)
    s = _int_tensor(np.ones(len(np.asarray(begin)), np.int32) if strides is None else strides)
    attrs = {"begin_mask": begin_mask, "end_mask": end_mask, "ellipsis_mask": ellipsis_mask,
             "new_axis_mask": new_axis_mask, "shrink_axis_mask": shrink_axis_mask}
    return apply_op("StridedSlice", [_t(input_), b, e, s], attrs, name=name).outputs[0]


def reverse(tensor: Any, axis: Any, name: str | None = None) -> Tensor:
    """``tf.reverse(tensor, axis)``: reverses the dimensions listed in ``axis``."""
    return apply_op("ReverseV2", [_t(tensor), _int_tensor(np.asarray(axis).reshape(-1) if not _is_tensor_like(axis) else axis)],
                    name=name).outputs[0]


def size(input: Any, out_type: Any = "int32", name: str | None = None) -> Tensor:
    """``tf.size(input)``: the number of elements, a scalar."""
    return apply_op("Size", [_t(input)], {"out_type": as_dtype(out_type)}, name=name).outputs[0]


def broadcast_to(input: Any, shape: Any, name: str | None = None) -> Tensor:
    """``tf.broadcast_to(input, shape)``."""
    out = apply_op("BroadcastTo", [_t(input), _int_tensor(shape)], name=name).outputs[0]
    if not _is_tensor_like(shape):
        out.set_shape(tuple(int(d) for d in np.asarray(shape).reshape(-1)))
    return out


def clip_by_value(t: Any, clip_value_min: Any, clip_value_max: Any, name: str | None = None) -> Tensor:
    """``tf.clip_by_value(t, clip_value_min, clip_value_max)``."""
    x = _t(t)
    return apply_op("ClipByValue", [x, _t(clip_value_min, x.dtype), _t(clip_value_max, x.dtype)],
                    name=name).outputs[0]


def eye(num_rows: int, num_columns: int | None = None, batch_shape: Sequence[int] | None = None,
        dtype: Any = "float32", name: str | None = None) -> Tensor:
    """``tf.eye(num_rows, num_columns=None, dtype=float32)``: an identity matrix (a constant)."""
    d = as_dtype(dtype)
    value = np.eye(num_rows, num_columns, dtype=d.as_numpy_dtype)
    if batch_shape:
        value = np.broadcast_to(value, (*batch_shape, *value.shape)).copy()
    return constant(value, dtype=d, name=name, default_name="eye")


def linspace(start: Any, stop: Any, num: int, name: str | None = None) -> Tensor:
    """``tf.linspace(start, stop, num)``: ``num`` evenly spaced values, both ends included."""
    s = _t(start) if _is_tensor_like(start) else constant(np.float32(start))
    return apply_op("LinSpace", [s, _t(stop, s.dtype), _int_tensor(num)], name=name).outputs[0]


def scatter_nd(indices: Any, updates: Any, shape: Any, name: str | None = None) -> Tensor:
    """``tf.scatter_nd(indices, updates, shape)``: a zero tensor of ``shape`` with ``updates``
    added at ``indices``."""
    i = _int_tensor(indices)
    return apply_op("ScatterNd", [i, _t(updates), _int_tensor(shape, i.dtype.name)], name=name).outputs[0]


def tensor_scatter_nd_update(tensor: Any, indices: Any, updates: Any, name: str | None = None) -> Tensor:
    """``tf.tensor_scatter_nd_update(tensor, indices, updates)``: a copy with entries replaced."""
    x = _t(tensor)
    return apply_op("TensorScatterUpdate", [x, _int_tensor(indices), _t(updates, x.dtype)],
                    name=name).outputs[0]


def einsum(equation: str, *inputs: Any, name: str | None = None) -> Tensor:
    """``tf.einsum(equation, *inputs)``: Einstein summation, e.g. ``"ij,jk->ik"``."""
    tensors = _same_dtype(inputs)
    return apply_op("Einsum", [tensors], {"equation": equation.replace(" ", "")}, name=name).outputs[0]


_ = (op_result, const_value, reshape, _range, _slice)
