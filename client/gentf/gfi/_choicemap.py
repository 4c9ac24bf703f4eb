"""Choice maps: hierarchical maps from addresses to the values of random choices.

A choice map has, at each level, *values* (leaves) and *submaps* (the choices of a call,
nested under the call's address). Keys are hashable; a tuple such as ``("y", 3)`` is one
key. ``path("sub", "x")`` addresses the value ``"x"`` inside the submap ``"sub"``.

Build one from a dict (``choicemap({"x": 1.0, ("y", 0): 2.0, "sub": {"z": 3.0}})``: a dict
or ChoiceMap value becomes a submap) or by item assignment. ``cm[key]`` is the value at a
leaf or the submap at an internal node; ``key in cm`` is true for both.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import Any

import numpy as np

from gentf.gfi._address import Address, Path, split_address

__all__ = ["ChoiceMap", "EmptyChoiceMap", "choicemap", "from_array", "to_array"]

_MISSING = object()
_SCALAR_TYPES = frozenset({int, float, np.int8, np.int16, np.int32, np.int64, np.uint8,
                           np.uint16, np.uint32, np.uint64, np.float16, np.float32, np.float64})
"""Immutable number types: a dense array of them stays right until the map is written."""


class ChoiceMap:
    """A nested, dict-like map from addresses to choice values.

    ``ChoiceMap(values)`` accepts a mapping from addresses (keys or Paths) to values; a dict
    or ChoiceMap value becomes a submap. Empty submaps are never stored.
    """

    def __init__(self, values: Mapping[Any, Any] | ChoiceMap | None = None) -> None:
        self._leaves: dict[Hashable, Any] = {}
        self._subs: dict[Hashable, ChoiceMap] = {}
        # dense_array's answer until a write here: the array, or n where there is none
        self._dense: np.ndarray | int | None = None
        if values is None:
            return
        if isinstance(values, ChoiceMap):
            self._merge_into(values)
            return
        if not isinstance(values, Mapping):
            raise TypeError(
                f"choicemap() takes a dict from addresses to values; got {type(values).__name__}"
            )
        for addr, value in values.items():
            self[addr] = value

    # ---- reading -------------------------------------------------------------------------

    def is_empty(self) -> bool:
        """True when the map holds no choice (at any depth)."""
        return not self._leaves and not self._subs

    def has_value(self, addr: Address) -> bool:
        """True when ``addr`` holds a value (a leaf)."""
        key, rest = split_address(addr)
        if rest is None:
            return key in self._leaves
        sub = self._subs.get(key)
        return sub is not None and sub.has_value(rest)

    def _values_by_key(self) -> Mapping[Hashable, Any]:
        """The values at this map's own keys (not under a path), live and not a copy: for
        the modeling layer's per-choice lookup, which must not write to it."""
        return self._leaves

    def _submaps_by_key(self) -> Mapping[Hashable, ChoiceMap]:
        """The non-empty submaps at this map's own keys, live and not a copy: for the
        modeling layer's per-call lookup, which must not write to it."""
        return self._subs

    def lookup_value(self, addr: Address) -> tuple[bool, Any]:
        """``(True, value)`` when ``addr`` holds a value, else ``(False, None)`` (nothing
        there, or a submap): ``has_value`` and ``get_value`` in one lookup."""
        if not isinstance(addr, Path):
            try:
                value = self._leaves.get(addr, _MISSING)
            except TypeError:
                split_address(addr)  # raises the TypeError that names the address
                raise
            return (False, None) if value is _MISSING else (True, value)
        key, rest = split_address(addr)
        if rest is None:
            return self.lookup_value(key)
        sub = self._subs.get(key)
        return (False, None) if sub is None else sub.lookup_value(rest)

    def get_value(self, addr: Address) -> Any:
        """``value = cm.get_value(addr)``; KeyError naming the address if there is no value."""
        key, rest = split_address(addr)
        if rest is None:
            if key in self._leaves:
                return self._leaves[key]
            if key in self._subs:
                raise KeyError(
                    f"address {key!r} holds a submap (the choices of a call), not a value; "
                    f"use get_submap({key!r})"
                )
            raise KeyError(f"no value at address {key!r}")
        sub = self._subs.get(key)
        if sub is None:
            raise KeyError(f"no value at address {addr!r}: nothing under {key!r}")
        return sub.get_value(rest)

    def get_submap(self, addr: Address) -> ChoiceMap:
        """``sub = cm.get_submap(addr)``: the choices under ``addr``; empty if there are none.

        ValueError if ``addr`` holds a value.
        """
        key, rest = split_address(addr)
        if key in self._leaves:
            raise ValueError(f"address {key!r} holds a value, not a submap")
        sub = self._subs.get(key)
        if sub is None:
            return EmptyChoiceMap()
        return sub if rest is None else sub.get_submap(rest)

    def dense_values(self, n: int) -> list[Any] | None:
        """The values at the keys ``0 .. n-1`` in order, when the map holds exactly those
        keys (plain ints), each a value, and nothing else; otherwise None. (Every element
        of a ``Map`` observed: read in one pass.)"""
        leaves = self._leaves
        if self._subs or len(leaves) != n or (n and set(map(type, leaves)) != {int}):
            return None
        try:
            return list(map(leaves.__getitem__, range(n)))
        except KeyError:
            return None

    def dense_array(self, n: int) -> np.ndarray | None:
        """:meth:`dense_values` as one read-only array, when those values are numbers
        (Python or numpy scalars, not bools); otherwise None. Kept until this level of
        the map is written to, so a map reused for every step is read once."""
        cached = self._dense
        if isinstance(cached, np.ndarray):
            if len(cached) == n:
                return cached
        elif cached == n:  # this map has no such array for n elements
            return None
        values = self.dense_values(n)
        dense = None
        if values and _SCALAR_TYPES.issuperset(map(type, values)):
            dense = np.array(values)
            if dense.dtype.kind in "iuf":
                dense.flags.writeable = False
            else:
                dense = None
        self._dense = n if dense is None else dense
        return dense

    def __getstate__(self) -> dict[str, Any]:
        # the dense array is a cache; unpickled it would be writable, so it is not kept
        return {**self.__dict__, "_dense": None}

    def get_values_shallow(self) -> Iterator[tuple[Hashable, Any]]:
        """``for key, value in cm.get_values_shallow()``: the leaves at this level."""
        return iter(list(self._leaves.items()))

    def get_submaps_shallow(self) -> Iterator[tuple[Hashable, ChoiceMap]]:
        """``for key, submap in cm.get_submaps_shallow()``: the non-empty submaps at this level."""
        return iter(list(self._subs.items()))

    def leaves(self) -> Iterator[tuple[Address, Any]]:
        """``for addr, value in cm.leaves()``: every value with its full address, depth first.

        Order: this level's values in insertion order, then each submap's. This is the
        order of :func:`to_array`.
        """
        for key, value in self._leaves.items():
            yield key, value
        for key, sub in self._subs.items():
            for sub_addr, value in sub.leaves():
                yield (Path((key, *sub_addr.keys)) if isinstance(sub_addr, Path)
                       else Path((key, sub_addr))), value

    def __getitem__(self, addr: Address) -> Any:
        """``cm[addr]``: the value at a leaf, or the submap at an internal node."""
        key, rest = split_address(addr)
        if rest is None:
            if key in self._leaves:
                return self._leaves[key]
            if key in self._subs:
                return self._subs[key]
            raise KeyError(f"no choice at address {key!r}")
        sub = self._subs.get(key)
        if sub is None:
            raise KeyError(f"no choice at address {addr!r}: nothing under {key!r}")
        return sub[rest]

    def get(self, addr: Address, default: Any = None) -> Any:
        """``cm.get(addr, default)``: like ``cm[addr]``, ``default`` when absent."""
        try:
            return self[addr]
        except KeyError:
            return default

    def __contains__(self, addr: Address) -> bool:
        key, rest = split_address(addr)
        if rest is None:
            return key in self._leaves or key in self._subs
        sub = self._subs.get(key)
        return sub is not None and rest in sub

    def __iter__(self) -> Iterator[Hashable]:
        """Iterates over the top-level keys (values first, then submaps)."""
        return iter([*self._leaves, *self._subs])

    def __len__(self) -> int:
        """The number of top-level keys (values and submaps)."""
        return len(self._leaves) + len(self._subs)

    def keys(self) -> list[Hashable]:
        """The top-level keys, values first, then submaps."""
        return list(self)

    def items(self) -> list[tuple[Hashable, Any]]:
        """``[(key, value_or_submap), ...]`` at the top level."""
        return [*self._leaves.items(), *self._subs.items()]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChoiceMap):
            return NotImplemented
        if self._leaves.keys() != other._leaves.keys() or self._subs.keys() != other._subs.keys():
            return False
        for key, value in self._leaves.items():
            if not _values_equal(value, other._leaves[key]):
                return False
        return all(sub == other._subs[key] for key, sub in self._subs.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"{k!r}: {v!r}" for k, v in self._leaves.items()]
        parts += [f"{k!r}: {v!r}" for k, v in self._subs.items()]
        return "choicemap({" + ", ".join(parts) + "})"

    # ---- writing -------------------------------------------------------------------------

    def __setitem__(self, addr: Address, value: Any) -> None:
        """``cm[addr] = value`` sets a value; a dict or ChoiceMap value sets a submap."""
        if isinstance(value, (ChoiceMap, Mapping)):
            self.set_submap(addr, value if isinstance(value, ChoiceMap) else ChoiceMap(value))
        else:
            self.set_value(addr, value)

    def set_value(self, addr: Address, value: Any) -> None:
        """Sets the value at ``addr`` (replacing a value; ValueError over a submap)."""
        self._dense = None
        key, rest = split_address(addr)
        if rest is None:
            if key in self._subs:
                raise ValueError(f"address {key!r} already holds a submap; cannot set a value")
            self._leaves[key] = value
            return
        if key in self._leaves:
            raise ValueError(f"address {key!r} holds a value; cannot set {addr!r} below it")
        sub = self._subs.get(key)
        if sub is None:
            sub = ChoiceMap()
            sub.set_value(rest, value)
            self._subs[key] = sub
        else:
            sub.set_value(rest, value)

    def set_submap(self, addr: Address, submap: ChoiceMap) -> None:
        """Sets the choices under ``addr`` (replacing a submap; an empty one removes it)."""
        self._dense = None
        key, rest = split_address(addr)
        if key in self._leaves:
            raise ValueError(f"address {key!r} holds a value; cannot set a submap there")
        if rest is None:
            if submap.is_empty():
                self._subs.pop(key, None)
            else:
                self._subs[key] = submap
            return
        sub = self._subs.get(key)
        if sub is None:
            sub = ChoiceMap()
        sub.set_submap(rest, submap)
        if sub.is_empty():
            self._subs.pop(key, None)
        else:
            self._subs[key] = sub

    def _merge_into(self, other: ChoiceMap) -> None:
        self._dense = None
        for key, value in other._leaves.items():
            if key in self._leaves or key in self._subs:
                raise ValueError(f"cannot merge choice maps: both have a choice at {key!r}")
            self._leaves[key] = value
        for key, sub in other._subs.items():
            if key in self._leaves:
                raise ValueError(f"cannot merge choice maps: both have a choice at {key!r}")
            if key in self._subs:
                merged = ChoiceMap(self._subs[key])
                merged._merge_into(sub)
                self._subs[key] = merged
            else:
                self._subs[key] = ChoiceMap(sub)

    def merge(self, other: ChoiceMap) -> ChoiceMap:
        """``merged = cm.merge(other)``: a new map with both maps' choices.

        ValueError if an address appears in both.
        """
        merged = ChoiceMap(self)
        merged._merge_into(other)
        return merged

    def copy(self) -> ChoiceMap:
        """A copy of the structure (values are shared, not copied)."""
        return ChoiceMap(self)


class EmptyChoiceMap(ChoiceMap):
    """The choice map with no choices; it refuses writes."""

    def __init__(self) -> None:
        super().__init__(None)

    def set_value(self, addr: Address, value: Any) -> None:
        """Refused: an EmptyChoiceMap stays empty."""
        raise TypeError("EmptyChoiceMap is immutable; build a ChoiceMap with choicemap()")

    def set_submap(self, addr: Address, submap: ChoiceMap) -> None:
        """Refused: an EmptyChoiceMap stays empty."""
        raise TypeError("EmptyChoiceMap is immutable; build a ChoiceMap with choicemap()")

    def __repr__(self) -> str:
        return "EmptyChoiceMap()"


def choicemap(values: Mapping[Any, Any] | ChoiceMap | None = None) -> ChoiceMap:
    """``cm = choicemap({addr: value, ...})``; no argument: a new, empty, writable map.

    Addresses are keys (a tuple like ``("y", 3)`` is one key) or ``path(...)``; a dict or
    ChoiceMap value becomes the submap at that address.
    """
    return ChoiceMap(values)


def _values_equal(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return bool(a == b)


def to_array(choices: ChoiceMap, dtype: Any = np.float64) -> np.ndarray:
    """``arr = to_array(choices)``: every value raveled and concatenated, in ``leaves()`` order."""
    parts = [np.ravel(np.asarray(value, dtype=dtype)) for _, value in choices.leaves()]
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(parts)


def from_array(proto: ChoiceMap, arr: Any) -> ChoiceMap:
    """``choices = from_array(proto, arr)``: ``proto``'s structure and shapes filled from ``arr``.

    The inverse of :func:`to_array`: ``from_array(cm, to_array(cm)) == cm`` for float
    values. ValueError if ``arr`` has the wrong length. Scalar values come back as floats.
    """
    flat = np.ravel(np.asarray(arr))
    leaves = list(proto.leaves())
    shapes = [np.shape(value) for _, value in leaves]
    needed = sum(int(np.prod(shape, dtype=np.int64)) for shape in shapes)
    if needed != flat.size:
        raise ValueError(
            f"from_array: the choice map holds {needed} numbers; the array has {flat.size}"
        )
    result = ChoiceMap()
    start = 0
    for (addr, _), shape in zip(leaves, shapes):
        size = int(np.prod(shape, dtype=np.int64))
        chunk = flat[start:start + size]
        result.set_value(addr, chunk.reshape(shape) if shape else chunk[0].item())
        start += size
    return result
