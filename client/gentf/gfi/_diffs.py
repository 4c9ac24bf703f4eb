"""Argument and return-value diffs: what changed between two executions.

``NoChange`` means the value is identical; ``UnknownChange`` means it may differ. Both are
singletons: compare with ``is``. ``update`` and ``regenerate`` take one diff per argument
and return a diff for the return value.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Diff", "NoChange", "UnknownChange", "all_no_change"]


class Diff:
    """Base class of diffs; the two standard diffs are the singletons below."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        # Pickling keeps the singletons singletons.
        return self._name


NoChange = Diff("NoChange")
"""The value did not change."""

UnknownChange = Diff("UnknownChange")
"""The value may have changed."""


def all_no_change(diffs: Sequence[Diff]) -> bool:
    """``flag = all_no_change(diffs)``: True when every diff is ``NoChange``."""
    return all(d is NoChange for d in diffs)
