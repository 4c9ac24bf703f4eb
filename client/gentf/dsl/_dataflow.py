"""Where each traced call's float arguments came from, noted while ``generate`` runs a body.

For every call and random choice the body makes, :class:`Dataflow` notes where each float
array argument came from, by identity: one of the function's own arguments, a parameter
the body read, or a leaf of an earlier call's return value, passed on unchanged. When every
float argument of every call is such a value (``probs = net(xs) @ "net"; Map(categorical)(
probs) @ "y"``), or a row of one (``categorical(probs[i]) @ ("y", i)``), the direct
gradient pass (:mod:`gentf.dsl._direct`) feeds the noted calls to its handler instead of
running the body again: the handler sees what a replay of the body would show it, call for
call. An argument of another kind (an array the body computed, another view, a numpy
scalar, a container, an object) ends the note; the body is then replayed.

A row is a new view each time the body indexes, so it is told by where its data lies: an
array whose memory owner is a noted array's, with the shape, strides and type of that
array's rows, starting where row ``i`` starts, is row ``i`` (the same elements the
replay's ``probs[i]`` reads). ``generate`` only keeps such arrays; :meth:`Dataflow.steps`
tells them apart when the gradient pass first asks, so that a ``generate`` no gradient
follows (inference) pays for none of it.

Python ints, bools, strings, ``None`` and arrays of integers carry no gradient in the
replay either, and are noted as plain; so are Python floats (literals such as ``0.5``),
unless the function has a float scalar argument or a call returned a float scalar leaf:
those the replay tracks, and a float cannot be told from another by identity (one
module-level constant may be both an argument and a literal of the body).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from gentf.wire._array_address import data_address

__all__ = ["Dataflow", "FlowStep", "RowBlock", "Source"]

Source = tuple[Any, ...] | None
"""Where one argument came from: ``None`` (plain: passed as it is), ``("arg", i)``,
``("param", name)``, ``("leaf", key, k)`` (leaf ``k`` of the return value of the call at
``key``) or ``("row", source, i)`` (row ``i`` of the array from ``source``)."""

FlowStep = tuple[Hashable, Any, tuple[Any, ...], tuple[Source, ...] | None]
"""One traced call as noted: (address, callee or distribution, arguments, each argument's
source; None when every argument is plain)."""


class RowBlock:
    """Consecutive random choices ``dist(..., a[i], ...) @ key`` of one distribution whose
    argument ``at`` is a row of the same array ``a`` (from ``of``) and whose other
    arguments are the same plain objects (``args``, the first choice's arguments): their
    addresses and rows."""

    __slots__ = ("args", "at", "dist", "keys", "of", "rows")

    def __init__(self, key: Hashable, dist: Any, args: tuple[Any, ...], at: int,
                 of: tuple[Any, ...], row: int) -> None:
        self.dist = dist
        self.args = args
        self.at = at
        self.of = of
        self.keys = [key]
        self.rows = [row]

    def joins(self, dist: Any, args: tuple[Any, ...], at: int, of: tuple[Any, ...]) -> bool:
        """Whether ``dist(*args)``, argument ``at`` a row of ``of``, continues the block."""
        mine = self.args
        if (dist is not self.dist or at != self.at or len(args) != len(mine)
                or (of is not self.of and of != self.of)):
            return False
        for m, (a, b) in enumerate(zip(args, mine)):
            if a is not b and m != at:
                return False
        return True


_PLAIN_TYPES = frozenset({int, bool, str, bytes, type(None), np.bool_, np.int8,
                          np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                          np.uint64})
_AMBIGUOUS = ("ambiguous",)  # one object with two sources: the replay could tell them apart
_LATER = ("later",)  # an array of no noted source: a row of one, or unknown (see steps())
_ONE_LATER = (_LATER,)

MAX_NOTED_CALLS = 100_000
"""The most calls one execution's note holds (about 250 bytes each, kept with the trace
until its gradient is first taken); a body that makes more is replayed for its gradients."""


class Dataflow:
    """The traced calls of one execution with their arguments' sources, in the body's
    order (:meth:`steps`); a handler drops it (sets it to None) when :meth:`call` says an
    argument's source is unknown."""

    __slots__ = ("_resolved", "_steps", "floats_plain", "known")

    def __init__(self, args: tuple[Any, ...]) -> None:
        self._steps: list[FlowStep] | None = []  # None once resolved (see steps())
        self._resolved: list[FlowStep | RowBlock] | None = None
        self.known: dict[int, tuple[Any, Source]] = {}  # id -> (the object, its source)
        self.floats_plain = True  # no float scalar the replay would track has been seen
        for i, a in enumerate(args):
            if type(a) is np.ndarray and a.dtype.kind == "f":
                self._bind(a, ("arg", i))
            elif isinstance(a, (float, np.floating)):
                self.floats_plain = False

    def _bind(self, obj: Any, source: Source) -> None:
        key = id(obj)
        seen = self.known.get(key)
        # the entry holds the object, so its id is not reused while the note lives
        self.known[key] = (obj, source if seen is None or seen[1] == source else _AMBIGUOUS)

    def param(self, name: str, value: Any) -> None:
        """The body read parameter ``name`` as ``value``."""
        if type(value) is np.ndarray:
            self._bind(value, ("param", name))

    def call(self, key: Hashable, callee: Any, args: tuple[Any, ...]) -> bool:
        """Notes the call (or choice) at ``key``; False, noting nothing, when an argument's
        source is unknown. True means every argument is an array, a Python float or a
        plain value (no autograd box, no container)."""
        steps = self._steps
        if len(steps) >= MAX_NOTED_CALLS:  # type: ignore[arg-type]
            return False
        if len(args) == 1:  # ``dist(probs[i])``: no list
            a = args[0]
            # (an entry holds its object, so no other live object has the entry's id)
            if type(a) is np.ndarray and id(a) not in self.known:
                steps.append((key, callee, args, _ONE_LATER))  # type: ignore[union-attr]
                return True
        sources: list[Source] | None = None
        for j, a in enumerate(args):
            t = type(a)
            if t is np.ndarray:
                entry = self.known.get(id(a))
                if entry is None or entry[0] is not a:
                    source: Source = _LATER
                else:
                    source = entry[1]
                    if source is None:
                        continue
                    if source is _AMBIGUOUS:
                        return False
            elif t in _PLAIN_TYPES or (t is float and self.floats_plain):
                continue
            else:
                return False
            if sources is None:
                sources = [None] * len(args)
            sources[j] = source
        self._steps.append(  # type: ignore[union-attr]
            (key, callee, args, None if sources is None else tuple(sources)))
        return True

    def steps(self) -> list[FlowStep | RowBlock] | None:
        """The noted calls, every array argument's source known (rows told apart), or None
        when an array argument is neither a noted value nor a row of one (an integer array
        is plain). Consecutive choices of one distribution, each with a row of the same
        array among the same plain arguments, come as one :class:`RowBlock`. Worked out
        once."""
        if self._steps is not None:
            self._resolved = self._resolve(self._steps)
            self._steps = None  # what the gradient pass needs is in the resolved steps
            self.known = {}
        return self._resolved

    def _resolve(self, steps: list[FlowStep]) -> list[FlowStep | RowBlock] | None:
        rows: _Rows | None = None
        resolved: list[FlowStep | RowBlock] = []
        block: RowBlock | None = None
        n, at = len(steps), 0
        while at < n:
            step = steps[at]
            key, dist, args, sources = step
            at += 1
            if sources is not None:
                if rows is None and _LATER in sources:
                    rows = _Rows(self.known)
                if rows is not None and len(sources) == 1:  # ``dist(probs[i])``
                    found = rows.source(args[0]) if sources[0] is _LATER else sources[0]
                    if found is _LATER:
                        return None
                    if found is not None and found[0] == "row":
                        of = found[1]
                        if (block is not None and block.dist is dist and block.at == 0
                                and len(block.args) == 1  # (joins(), without its loop)
                                and (block.of is of or block.of == of)):
                            block.keys.append(key)
                            block.rows.append(found[2])
                        else:
                            block = RowBlock(key, dist, args, 0, of, found[2])
                            resolved.append(block)
                        if sources[0] is _LATER and rows.last is not None:
                            at = _following_rows(steps, at, block, found[2] + 1, rows.last)
                        continue
                    step = (key, dist, args, None if found is None else (found,))
                elif rows is not None:
                    known = [rows.source(a) if s is _LATER else s
                             for a, s in zip(args, sources)]
                    row = None  # where the one row argument among plain ones is
                    for m, s in enumerate(known):
                        if s is _LATER:
                            return None
                        if s is not None:
                            row = m if row is None and s[0] == "row" else -1
                    if row is not None and row >= 0:
                        _, of, i = known[row]  # type: ignore[misc]
                        if block is not None and block.joins(dist, args, row, of):
                            block.keys.append(key)
                            block.rows.append(i)
                            continue
                        block = RowBlock(key, dist, args, row, of, i)
                        resolved.append(block)
                        continue
                    step = (key, dist, args,
                            None if known.count(None) == len(known) else tuple(known))
            block = None
            resolved.append(step)
        return resolved

    def returned(self, key: Hashable, retval: Any, tracked: bool) -> None:
        """The call at ``key`` returned ``retval`` to the body: its float array leaves
        (the value itself, or the items of a tuple or list) are leaves ``0, 1, ...``
        (``tracked``: the gradient pass tracks them; else they are plain)."""
        if type(retval) is np.ndarray:
            if retval.dtype.kind == "f":
                self._bind(retval, ("leaf", key, 0) if tracked else None)
        elif type(retval) in (tuple, list):
            k = 0
            for item in retval:
                if type(item) is np.ndarray and item.dtype.kind == "f":
                    self._bind(item, ("leaf", key, k) if tracked else None)
                    k += 1
                elif isinstance(item, (tuple, list, float, np.floating)):
                    # nested or scalar leaves: later uses of the rest stay unknown
                    self.floats_plain = self.floats_plain and not tracked
                    return
        elif isinstance(retval, (float, np.floating)):
            self.floats_plain = self.floats_plain and not tracked


class _Rows:
    """Tells which noted array an array is a row of, by where its data lies."""

    last: tuple[Any, ...] | None = None
    """(owner, start, row stride, rows, row shape, row strides, dtype) of the array the
    last :meth:`source` call found a row of, when it is the only noted array of its
    memory's owner (so the next row of it is that array's and no other's); else None."""

    def __init__(self, known: dict[int, tuple[Any, Source]]) -> None:
        # id of the memory owner a row of a noted array has as its base -> (that owner,
        # [(where the array's data starts, its rows' stride, count, shape, strides and
        # type, its source)])
        self.owners: dict[int, tuple[Any, list[tuple[Any, ...]]]] = {}
        for obj, source in known.values():
            if obj.ndim and obj.strides[0] and obj.shape[0]:
                owner = obj[...].base  # what numpy makes the base of a view of obj
                entry = self.owners.get(id(owner))
                if entry is None:  # (the owner lives as long as obj: its id is its own)
                    entry = self.owners[id(owner)] = (owner, [])
                shape, strides = obj.shape, obj.strides
                entry[1].append((data_address(obj), strides[0], shape[0], shape[1:],
                                 strides[1:], obj.dtype, source))

    def source(self, a: np.ndarray) -> Source:
        """``("row", source, i)`` when ``a`` is row ``i`` of exactly one noted array, None
        when that array is plain or ``a`` holds no floats, else ``_LATER`` (unknown).
        Sets :attr:`last`."""
        self.last = None
        base = a.base
        entry = None if base is None else self.owners.get(id(base))
        found: Source = _LATER
        at, shape, strides, dtype = data_address(a), a.shape, a.strides, a.dtype
        for start, step, n, row_shape, row_strides, row_dtype, source in entry[1] if entry else ():
            i, off = divmod(at - start, step)
            if (off or i < 0 or i >= n or strides != row_strides or shape != row_shape
                    or (dtype is not row_dtype and dtype != row_dtype)):
                continue
            row = None if source is None else ("row", source, i)
            if source is _AMBIGUOUS or (found is not _LATER and found != row):
                return _LATER  # rows of two noted arrays: the replay could tell them apart
            found = row  # (or again: one parameter read twice is one source)
        if found is _LATER and a.dtype.kind not in "fO":
            return None  # integers, bools: plain, as in the replay
        if found is not _LATER and found is not None and len(entry[1]) == 1:  # type: ignore[index]
            self.last = (base, *entry[1][0][:6])  # type: ignore[index]
        return found


def _following_rows(steps: list[FlowStep], start: int, block: RowBlock, row: int,
                    last: tuple[Any, ...]) -> int:
    """Adds to ``block`` the steps from ``start`` on that are ``block.dist(a[row])``,
    ``a[row + 1]``, ... of the array whose row was found last (``last``: its buffer's
    owner, where its rows start, their step in bytes, their count, shape, strides and
    type; it is the only noted array of its buffer): what :meth:`_Rows.source` would find
    for each, told in a few comparisons. Returns the first step it did not add."""
    owner, first, step_bytes, count, shape, strides, dtype = last
    dist, add_key, add_row = block.dist, block.keys.append, block.rows.append
    at = first + row * step_bytes
    for s in range(start, len(steps)):
        key, d, args, sources = steps[s]
        if sources is not _ONE_LATER or d is not dist or row >= count:
            return s
        a = args[0]
        if a.base is not owner or data_address(a) != at or a.strides != strides \
                or a.shape != shape or a.dtype != dtype:
            return s
        add_key(key)
        add_row(row)
        row += 1
        at += step_bytes
    return len(steps)
