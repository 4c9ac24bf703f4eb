"""Selections: sets of addresses, hierarchical like choice maps.

``select("x", ("y", 0), path("sub", "z"))`` selects those addresses; selecting the address
of a call selects every choice inside it. ``selectall()`` selects everything,
``complement(sel)`` (or ``~sel``) everything else, ``select()`` nothing.

A selection answers two questions: ``addr in sel`` (is the choice at ``addr`` selected?)
and ``sel.get_subselection(addr)`` (what is selected inside the call at ``addr``, a key or
a ``path(...)``?).
"""

from __future__ import annotations

from collections.abc import Hashable

from gentf.gfi._address import Address, split_address

__all__ = [
    "AllSelection",
    "ComplementSelection",
    "EmptySelection",
    "HierarchicalSelection",
    "Selection",
    "complement",
    "select",
    "selectall",
]


class Selection:
    """Base class of selections: ``addr in sel`` and ``sel.get_subselection(key)``."""

    def __contains__(self, addr: Address) -> bool:
        raise NotImplementedError(f"{type(self).__name__} does not implement __contains__")

    def get_subselection(self, addr: Address) -> Selection:
        """``sub = sel.get_subselection(addr)``: the selection inside the call at ``addr``.

        ``addr`` is a key or a hierarchical ``path(...)`` (the call at ``path("data", 3)``).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement get_subselection")

    def __getitem__(self, addr: Address) -> Selection:
        """``sel[addr]`` is ``sel.get_subselection(addr)`` (Gen's spelling)."""
        return self.get_subselection(addr)

    def is_empty(self) -> bool:
        """True when nothing is selected."""
        raise NotImplementedError(f"{type(self).__name__} does not implement is_empty")

    def __invert__(self) -> Selection:
        """``~sel`` is ``complement(sel)``."""
        return complement(self)


class EmptySelection(Selection):
    """Selects nothing."""

    def __contains__(self, addr: Address) -> bool:
        return False

    def get_subselection(self, addr: Address) -> Selection:
        """Nothing is selected inside anything."""
        return self

    def is_empty(self) -> bool:
        """Always true."""
        return True

    def __repr__(self) -> str:
        return "select()"


class AllSelection(Selection):
    """Selects every address."""

    def __contains__(self, addr: Address) -> bool:
        split_address(addr)
        return True

    def get_subselection(self, addr: Address) -> Selection:
        """Everything is selected inside every call."""
        return self

    def is_empty(self) -> bool:
        """Always false."""
        return False

    def __repr__(self) -> str:
        return "selectall()"


class HierarchicalSelection(Selection):
    """Selects a set of addresses; a selected call address selects all its choices."""

    def __init__(self, addrs: tuple[Address, ...] = ()) -> None:
        self._all: set[Hashable] = set()
        self._subs: dict[Hashable, HierarchicalSelection] = {}
        for addr in addrs:
            self.add(addr)

    def add(self, addr: Address) -> None:
        """Adds ``addr`` (a key or a path) to the selection."""
        key, rest = split_address(addr)
        if key in self._all:
            return
        if rest is None:
            self._all.add(key)
            self._subs.pop(key, None)
            return
        self._subs.setdefault(key, HierarchicalSelection()).add(rest)

    def __contains__(self, addr: Address) -> bool:
        key, rest = split_address(addr)
        if key in self._all:
            return True
        if rest is None:
            return False
        sub = self._subs.get(key)
        return sub is not None and rest in sub

    def get_subselection(self, addr: Address) -> Selection:
        """All of a selected call; the listed addresses inside a call; else nothing."""
        key, rest = split_address(addr)
        if key in self._all:
            return AllSelection()
        sub = self._subs.get(key)
        if sub is None:
            return EmptySelection()
        return sub if rest is None else sub.get_subselection(rest)

    def is_empty(self) -> bool:
        """True when no address was added."""
        return not self._all and not self._subs

    def __repr__(self) -> str:
        parts = [repr(k) for k in self._all] + [f"{k!r}: {v!r}" for k, v in self._subs.items()]
        return "select(" + ", ".join(parts) + ")"


class ComplementSelection(Selection):
    """Selects every address that ``inner`` does not."""

    def __init__(self, inner: Selection) -> None:
        self.inner = inner

    def __contains__(self, addr: Address) -> bool:
        return addr not in self.inner

    def get_subselection(self, addr: Address) -> Selection:
        """The complement of the inner selection's subselection."""
        return complement(self.inner.get_subselection(addr))

    def is_empty(self) -> bool:
        """True when the inner selection selects everything."""
        return isinstance(self.inner, AllSelection)

    def __repr__(self) -> str:
        return f"complement({self.inner!r})"


def select(*addrs: Address) -> Selection:
    """``sel = select(addr, ...)``: exactly these addresses (and everything inside selected
    calls); no arguments: the empty selection."""
    if not addrs:
        return EmptySelection()
    return HierarchicalSelection(addrs)


def selectall() -> Selection:
    """``sel = selectall()``: every address."""
    return AllSelection()


def complement(selection: Selection) -> Selection:
    """``sel = complement(selection)``: every address not in ``selection``."""
    if not isinstance(selection, Selection):
        raise TypeError(f"complement() takes a Selection; got {type(selection).__name__}")
    if isinstance(selection, ComplementSelection):
        return selection.inner
    if isinstance(selection, EmptySelection):
        return AllSelection()
    if isinstance(selection, AllSelection):
        return EmptySelection()
    return ComplementSelection(selection)
