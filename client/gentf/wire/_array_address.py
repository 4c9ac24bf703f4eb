"""The address of an array's first element, read in a few hundred nanoseconds.

The modeling layer's ``generate`` tells a row of a tracked array (``probs[i]``, a new view
each time) from any other array by where its data starts (:mod:`gentf.dsl._dataflow`), and
:func:`gentf.wire._codec.aligned_empty` aligns a new buffer by its start. numpy offers that
address only through ``__array_interface__`` or ``.ctypes``, which build a dict or an
object each time (about 3 us here, as much as the gradient pass saves per row). numpy's
C structure for an array (``PyArrayObject_fields``, public and unchanged since numpy 1.7)
holds the pointer right after the object header, so :func:`data_address` reads it there.
At import the reading is checked against ``__array_interface__`` on arrays, views and
rows; where they disagree (another layout), :func:`data_address` uses the slow way.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy as np

__all__ = ["data_address"]

_HEADER_BYTES = object.__basicsize__  # the object header precedes the data pointer
_POINTER_AT = ctypes.c_void_p.from_address


def _interface_address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])


def _header_address(array: np.ndarray) -> int:
    return _POINTER_AT(id(array) + _HEADER_BYTES).value or 0


def _reads_right(read: Callable[[np.ndarray], int]) -> bool:
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    samples = [base, base[2], base[1:, 3:], base.T[5], np.zeros(0), np.float64(2.0) * base]
    try:
        return all(read(a) == _interface_address(a) for a in samples)
    except (ValueError, OSError):
        return False


data_address: Callable[[np.ndarray], int] = (
    _header_address if _reads_right(_header_address) else _interface_address)
"""``data_address(array)``: the address of ``array``'s first element (an int), as
``array.__array_interface__["data"][0]`` gives it. ``array`` must be a ``numpy.ndarray``."""


def reads_header() -> bool:
    """True when :func:`data_address` reads numpy's structure (the fast way)."""
    return data_address is _header_address
