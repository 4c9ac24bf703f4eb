"""The trace of a ``@gen`` function: a record per address, in execution order."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gentf.dsl.distributions._base import Distribution
from gentf.gfi._address import Address, split_address
from gentf.gfi._choicemap import ChoiceMap
from gentf.gfi._interface import GenerativeFunction, Trace

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["CallRecord", "ChoiceRecord", "GenTrace", "Record"]


@dataclass(frozen=True)
class ChoiceRecord:
    """A random choice: its distribution, value and log density."""

    dist: Distribution
    value: Any
    score: float


@dataclass(frozen=True)
class CallRecord:
    """A traced call of a generative function: the callee and its trace."""

    callee: GenerativeFunction
    subtrace: Trace


Record = ChoiceRecord | CallRecord


class GenTrace(Trace):
    """The trace of one execution of a ``@gen`` function.

    ``trace[key]`` is the value of the choice at ``key``, or the return value of the call
    at ``key`` (as in Gen); ``trace[path(k, ...)]`` looks inside the call at ``k``;
    ``trace[()]`` is the return value.
    """

    def __init__(
        self,
        gen_fn: GenFunction,
        args: tuple[Any, ...],
        records: dict[Hashable, Record],
        retval: Any,
    ) -> None:
        self._gen_fn = gen_fn
        self._args = args
        self.records = records
        self._retval = retval
        self._score = float(
            sum(r.score if isinstance(r, ChoiceRecord) else r.subtrace.get_score()
                for r in records.values())
        )
        self._choices: ChoiceMap | None = None

    def get_gen_fn(self) -> GenFunction:
        """The ``@gen`` function that produced this trace."""
        return self._gen_fn

    def get_args(self) -> tuple[Any, ...]:
        """The arguments of the execution."""
        return self._args

    def get_retval(self) -> Any:
        """The value the body returned."""
        return self._retval

    def get_score(self) -> float:
        """``log p``: the choices' log densities plus the callees' scores."""
        return self._score

    def get_choices(self) -> ChoiceMap:
        """The choices, with each call's choices nested under its address."""
        if self._choices is None:
            choices = ChoiceMap()
            for key, record in self.records.items():
                if isinstance(record, ChoiceRecord):
                    choices.set_value(key, record.value)
                else:
                    choices.set_submap(key, record.subtrace.get_choices())
            self._choices = choices
        return self._choices

    def __getitem__(self, addr: Address) -> Any:
        if isinstance(addr, tuple) and addr == ():
            return self._retval
        key, rest = split_address(addr)
        record = self.records.get(key)
        if record is None:
            raise KeyError(f"no choice or call at address {key!r} in this trace")
        if isinstance(record, ChoiceRecord):
            if rest is not None:
                raise KeyError(f"address {key!r} is a random choice; {addr!r} does not exist")
            return record.value
        if rest is None:
            return record.subtrace.get_retval()
        return record.subtrace[rest]

    def __repr__(self) -> str:
        return f"<GenTrace of {self._gen_fn.name}: score {self._score:.6g}, {len(self.records)} records>"
