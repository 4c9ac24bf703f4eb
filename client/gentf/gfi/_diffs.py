"""Argument and return-value diffs: what changed between two executions.

``NoChange`` means the value is identical; ``UnknownChange`` means it may differ. Both are
singletons, and calling one returns it, so Gen's spelling ``NoChange()`` and the bare name
are the same object: ``NoChange() is NoChange``. Gen's type test ``isa(d, NoChange)`` reads
``isinstance(d, NoChange)`` here (true only for the singleton itself); every diff is an
instance of :class:`Diff`. ``update`` and ``regenerate`` take one diff per argument and
return a diff for the return value.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Diff", "NoChange", "UnknownChange", "all_no_change"]


class Diff:
    """Base class of diffs; the two standard diffs are the singletons below.

    ``diff()`` returns ``diff`` itself (Gen writes ``NoChange()``), and
    ``isinstance(x, diff)`` is ``x is diff``.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self) -> Diff:
        """``NoChange()`` is ``NoChange``: Gen's constructor spelling."""
        return self

    def __instancecheck__(self, instance: object) -> bool:
        """``isinstance(d, NoChange)`` is ``d is NoChange`` (Gen's ``isa(d, NoChange)``)."""
        return instance is self

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
