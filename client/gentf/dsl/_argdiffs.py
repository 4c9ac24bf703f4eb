"""Argument diffs for the calls a ``@gen`` body makes during update and regenerate."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.gfi._diffs import Diff, NoChange, UnknownChange

__all__ = ["call_argdiffs"]


def _same(old: Any, new: Any) -> bool:
    if old is new:
        return True
    if isinstance(old, np.ndarray) and isinstance(new, (np.ndarray, float, int)):
        # The callee recorded its arguments as it converted them (a TFFunction casts to its
        # placeholders' dtypes): equal after the same conversion means the callee sees no change.
        new_arr = np.asarray(new)
        if old.shape != new_arr.shape:
            return False
        try:
            return bool(np.array_equal(old, new_arr.astype(old.dtype, copy=False)))
        except (TypeError, ValueError):
            return False
    if isinstance(old, (int, float, str, bool)) and type(old) is type(new):
        return bool(old == new)
    return False


def call_argdiffs(old_args: tuple[Any, ...], new_args: tuple[Any, ...]) -> tuple[Diff, ...]:
    """``NoChange`` for each argument provably equal to the old one, else ``UnknownChange``."""
    if len(old_args) != len(new_args):
        return tuple(UnknownChange for _ in new_args)
    return tuple(NoChange if _same(o, n) else UnknownChange for o, n in zip(old_args, new_args))
