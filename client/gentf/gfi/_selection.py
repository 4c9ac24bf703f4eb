"""Selections: sets of addresses (minimal version; the modeling layer extends it)."""

from __future__ import annotations

from typing import Any

__all__ = ["Selection", "select"]


class Selection:
    """A set of addresses."""

    def __init__(self, addrs: tuple[Any, ...] = ()) -> None:
        self._addrs = frozenset(addrs)

    def __contains__(self, addr: Any) -> bool:
        return addr in self._addrs

    def is_empty(self) -> bool:
        """True when nothing is selected."""
        return not self._addrs


def select(*addrs: Any) -> Selection:
    """``select(addr, ...)``: the selection of exactly these addresses; none: empty."""
    return Selection(addrs)
