"""Argument and return-value diffs: what changed between two executions.

``NoChange`` means the value is identical; ``UnknownChange`` means it may differ.
"""

from __future__ import annotations

__all__ = ["Diff", "NoChange", "UnknownChange"]


class Diff:
    """Base class of diffs; the two standard diffs are the singletons below."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NoChange = Diff("NoChange")
"""The value did not change."""

UnknownChange = Diff("UnknownChange")
"""The value may have changed."""
