"""Addresses of random choices and calls.

A *key* is any hashable value except a :class:`Path`: ``"x"``, ``3`` or a tuple such as
``("y", 3)``, which is ONE key (it names one choice, like Gen's ``(:y, 3)``). A
:class:`Path` is a hierarchical address that descends through calls, like Gen's
``:sub => :x``: ``path("sub", "x")`` is the choice ``"x"`` made inside the call at ``"sub"``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

__all__ = ["Address", "Path", "path", "split_address"]


class Path:
    """A hierarchical address: a sequence of at least two keys, outermost first."""

    __slots__ = ("keys",)

    keys: tuple[Hashable, ...]

    def __init__(self, keys: tuple[Hashable, ...]) -> None:
        if len(keys) < 2:
            raise ValueError(f"a Path needs at least two keys; got {keys!r} (use the key itself)")
        for key in keys:
            if isinstance(key, Path):
                raise TypeError(f"a Path holds keys, not Paths; got {key!r} inside {keys!r}")
            hash(key)
        self.keys = keys

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Path) and other.keys == self.keys

    def __hash__(self) -> int:
        return hash(("gentf.Path", self.keys))

    def __repr__(self) -> str:
        return "path(" + ", ".join(repr(k) for k in self.keys) + ")"


Address = Any
"""A key or a :class:`Path` (typed ``Any``: keys are arbitrary hashable values)."""


def path(*keys: Hashable) -> Address:
    """``addr = path(k1, k2, ...)``: the address ``k2`` inside the call at ``k1``, and so on.

    A single key is returned unchanged, so ``path("x") == "x"``; nested Paths are flattened.
    """
    flat: list[Hashable] = []
    for key in keys:
        if isinstance(key, Path):
            flat.extend(key.keys)
        else:
            flat.append(key)
    if not flat:
        raise ValueError("path() needs at least one key")
    if len(flat) == 1:
        return flat[0]
    return Path(tuple(flat))


def split_address(addr: Address) -> tuple[Hashable, Address | None]:
    """``(first_key, rest) = split_address(addr)``; ``rest`` is ``None`` for a single key."""
    if isinstance(addr, Path):
        rest = addr.keys[1:]
        return addr.keys[0], (rest[0] if len(rest) == 1 else Path(rest))
    try:
        hash(addr)
    except TypeError:
        raise TypeError(
            f"an address must be hashable (a string, number, tuple or path(...)); "
            f"got {type(addr).__name__} {addr!r}"
        ) from None
    return addr, None
