"""numpy-style indexing of Tensors and Variables: ``x[1, -1, ::2, ..., None]``.

Ints, negative ints, slices (with steps, negative steps), ``...`` and ``None`` (a new axis)
build one StridedSlice node; a scalar integer tensor works like an int. Dispatch on the
index tensor's dtype, as TensorFlow.jl does: an integer tensor (or a list of ints) gathers
along its position, a bool tensor masks (``tf.boolean_mask``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import Tensor
from gentf.wire._dtypes import DType

__all__ = ["getitem"]


def _is_tensor(x: Any) -> bool:
    return isinstance(x, Tensor) or hasattr(x, "_as_tensor")


def _gather_axis(key: tuple[Any, ...]) -> int | None:
    """Position of the one advanced index when every other entry is a full slice ``:``."""
    advanced = [k for k, item in enumerate(key) if _is_advanced(item)]
    if len(advanced) != 1:
        return None
    rest = [item for k, item in enumerate(key) if k != advanced[0]]
    if all(isinstance(item, slice) and item == slice(None) for item in rest):
        return advanced[0]
    return None


def _is_advanced(item: Any) -> bool:
    if _is_tensor(item):
        t = convert_to_tensor(item)
        return t.dtype.is_bool or t.shape != ()
    return isinstance(item, (list, np.ndarray)) and np.asarray(item).ndim > 0


def getitem(tensor: Any, key: Any) -> Tensor:
    """``tensor[key]`` with numpy's semantics for basic indexing (see the module docstring)."""
    x = convert_to_tensor(tensor)
    items = key if isinstance(key, tuple) else (key,)
    if any(_is_advanced(item) for item in items):
        axis = _gather_axis(items)
        if axis is None:
            raise TypeError("gentf indexing: a tensor/list index must be the only index other than full slices ':'")
        index = items[axis]
        idx = convert_to_tensor(index) if _is_tensor(index) else constant(np.asarray(index))
        if idx.dtype.is_bool:
            if axis != 0:
                raise TypeError("gentf indexing: a bool mask must index the leading dimensions")
            coords = apply_op("Where", [idx]).outputs[0]
            return apply_op("GatherNd", [x, coords], default_name="boolean_mask").outputs[0]
        if not idx.dtype.is_integer:
            raise TypeError(f"gentf indexing: index tensors must be integer or bool, got {idx.dtype.name}")
        return apply_op("GatherV2", [x, idx, constant(np.asarray(axis, idx.dtype.as_numpy_dtype))],
                        default_name="Gather").outputs[0]

    begin: list[Any] = []
    end: list[Any] = []
    strides: list[Any] = []
    masks = {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0}
    seen_ellipsis = False

    def add(b: Any, e: Any, s: Any) -> None:
        begin.append(b)
        end.append(e)
        strides.append(s)

    for k, item in enumerate(items):
        bit = 1 << k
        if item is Ellipsis:
            if seen_ellipsis:
                raise IndexError("an index can only have a single ellipsis ('...')")
            seen_ellipsis = True
            masks["ellipsis_mask"] |= bit
            add(0, 0, 1)
        elif item is None:
            masks["new_axis_mask"] |= bit
            add(0, 0, 1)
        elif isinstance(item, slice):
            step = 1 if item.step is None else item.step
            if not _is_tensor(step) and int(step) == 0:
                raise ValueError("slice step cannot be zero")
            if item.start is None:
                masks["begin_mask"] |= bit
                begin.append(0)
            else:
                begin.append(item.start)
            if item.stop is None:
                masks["end_mask"] |= bit
                end.append(0)
            else:
                end.append(item.stop)
            strides.append(step)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            masks["shrink_axis_mask"] |= bit
            add(int(item), int(item) + 1, 1)
        elif _is_tensor(item):
            t = convert_to_tensor(item)
            if not t.dtype.is_integer:
                raise TypeError(f"gentf indexing: scalar index tensors must be integers, got {t.dtype.name}")
            masks["shrink_axis_mask"] |= bit
            begin.append(t)
            end.append(apply_op("AddV2", [t, constant(np.asarray(1, t.dtype.as_numpy_dtype))]).outputs[0])
            strides.append(1)
        else:
            raise TypeError(f"gentf indexing: unsupported index {item!r} of type {type(item).__name__}")
    if not items:
        return x
    out = apply_op("StridedSlice", [x, _pack(begin), _pack(end), _pack(strides)], masks,
                   default_name="strided_slice").outputs[0]
    _static_shape(out, x, items)
    return out


def _pack(values: list[Any]) -> Tensor:
    """A 1-d index tensor: a constant when every entry is a Python int, else a Pack node."""
    if not any(_is_tensor(v) for v in values):
        arr = np.asarray(values, dtype=np.int64)
        small = arr.size == 0 or (arr.max() < 2**31 and arr.min() >= -(2**31))
        return constant(arr.astype(np.int32 if small else np.int64))
    tensors = [convert_to_tensor(v) for v in values if _is_tensor(v)]
    dtype: DType = tensors[0].dtype
    parts = [convert_to_tensor(v) if _is_tensor(v) else constant(np.asarray(v, dtype.as_numpy_dtype)) for v in values]
    parts = [p if p.dtype is dtype else apply_op("Cast", [p], {"DstT": dtype}).outputs[0] for p in parts]
    return apply_op("Pack", [parts], {"axis": 0}).outputs[0]


def _static_shape(out: Tensor, x: Tensor, items: tuple[Any, ...]) -> None:
    """numpy's result shape when the input shape is fully known and the index is static."""
    if x.shape is None or any(d is None for d in x.shape) or any(_is_tensor(i) for i in items):
        return
    if any(isinstance(i, slice) and any(_is_tensor(v) for v in (i.start, i.stop, i.step)) for i in items):
        return
    try:
        out.set_shape(np.empty(tuple(int(d) for d in x.shape if d is not None), dtype=np.bool_)[items].shape)
    except (IndexError, TypeError, ValueError):
        pass
