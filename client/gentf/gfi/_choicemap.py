"""Choice maps: hierarchical maps from addresses to the values of random choices.

(Minimal version; the modeling layer extends it.)
"""

from __future__ import annotations

from typing import Any, Iterator

__all__ = ["ChoiceMap", "EmptyChoiceMap", "choicemap"]


class ChoiceMap:
    """A mapping from addresses to values; a tuple address such as ``("y", 3)`` is one key."""

    def __init__(self, values: dict[Any, Any] | None = None) -> None:
        self._values: dict[Any, Any] = dict(values or {})

    def is_empty(self) -> bool:
        """True when the map holds no choice."""
        return not self._values

    def __getitem__(self, addr: Any) -> Any:
        return self._values[addr]

    def __contains__(self, addr: Any) -> bool:
        return addr in self._values

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"choicemap({self._values!r})"


class EmptyChoiceMap(ChoiceMap):
    """The choice map with no choices."""

    def __init__(self) -> None:
        super().__init__({})


def choicemap(values: dict[Any, Any] | None = None) -> ChoiceMap:
    """``choicemap({addr: value, ...})``; no argument: the empty choice map."""
    return ChoiceMap(values)
