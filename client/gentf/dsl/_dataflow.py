"""Where each traced call's float arguments came from, noted while ``generate`` runs a body.

For every call and random choice the body makes, :class:`Dataflow` notes where each float
array argument came from, by identity: one of the function's own arguments, a parameter
the body read, or a leaf of an earlier call's return value, passed on unchanged. When every
float argument of every call is such a value (``probs = net(xs) @ "net"; Map(categorical)(
probs) @ "y"``), the direct gradient pass (:mod:`gentf.dsl._direct`) feeds the noted calls
to its handler instead of running the body again: the handler sees what a replay of the
body would show it, call for call. The first argument of another kind (an array the body
computed, a numpy scalar, a container, an object) ends the note; the body is then replayed.

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

__all__ = ["Dataflow", "FlowStep", "Source"]

Source = tuple[Any, ...] | None
"""Where one argument came from: ``None`` (plain: passed as it is), ``("arg", i)``,
``("param", name)`` or ``("leaf", key, k)`` (leaf ``k`` of the return value of the call at
``key``)."""

FlowStep = tuple[Hashable, Any, tuple[Any, ...], tuple[Source, ...] | None]
"""One traced call as noted: (address, callee or distribution, arguments, each argument's
source; None when every argument is plain)."""

_PLAIN_TYPES = frozenset({int, bool, str, bytes, type(None), np.bool_, np.int8,
                          np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                          np.uint64})
_AMBIGUOUS = ("ambiguous",)  # one object with two sources: the replay could tell them apart


class Dataflow:
    """The traced calls of one execution with their arguments' sources (``steps``), in
    the body's order; a handler drops it (sets it to None) when :meth:`call` says an
    argument's source is unknown."""

    __slots__ = ("floats_plain", "known", "steps")

    def __init__(self, args: tuple[Any, ...]) -> None:
        self.steps: list[FlowStep] = []
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
        source is unknown."""
        sources: list[Source] | None = None
        for j, a in enumerate(args):
            t = type(a)
            if t in _PLAIN_TYPES or (t is float and self.floats_plain):
                continue
            if t is not np.ndarray:
                return False
            if a.dtype.kind != "f":
                if a.dtype.kind == "O":
                    return False
                continue
            entry = self.known.get(id(a))
            if entry is None or entry[0] is not a or entry[1] is _AMBIGUOUS:
                return False
            if entry[1] is not None:
                if sources is None:
                    sources = [None] * len(args)
                sources[j] = entry[1]
        self.steps.append((key, callee, args, None if sources is None else tuple(sources)))
        return True

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
