"""The trace of a ``@gen`` function: a record per address, in execution order."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, NamedTuple

from gentf.dsl._dataflow import Dataflow
from gentf.dsl.distributions._base import Distribution
from gentf.gfi._address import Address, Path, path, split_address
from gentf.gfi._choicemap import ChoiceMap
from gentf.gfi._interface import GenerativeFunction, Trace

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["CallRecord", "ChoiceRecord", "GenTrace", "Record"]


class ChoiceRecord(NamedTuple):
    """A random choice: its distribution, value and log density. (An immutable tuple: a
    body's loop makes one per choice, and a tuple is the cheapest to build.)"""

    dist: Distribution
    value: Any
    score: float


class CallRecord(NamedTuple):
    """A traced call of a generative function: the callee and its trace."""

    callee: GenerativeFunction
    subtrace: Trace


Record = ChoiceRecord | CallRecord


class GenTrace(Trace):
    """The trace of one execution of a ``@gen`` function.

    ``records`` maps each address as the body wrote it (a key or a ``path(...)``) to its
    record, in execution order. ``trace[addr]`` is the value of the choice at ``addr``, or
    the return value of the call at ``addr`` (as in Gen); an address below a call's
    address looks inside that call (``trace[path("data", 3, "y")]`` for the call at
    ``path("data", 3)``); ``trace[()]`` is the return value. ``score``, where the maker
    kept it while recording, is ``sum`` of the records' scores in their order (each
    call's its subtrace's); None sums them here.
    """

    def __init__(
        self,
        gen_fn: GenFunction,
        args: tuple[Any, ...],
        records: dict[Hashable, Record],
        retval: Any,
        score: Any = None,
    ) -> None:
        self._gen_fn = gen_fn
        self._args = args
        self.records = records
        self._retval = retval
        if score is None:  # (else the caller summed the records' scores, as here, in order)
            score = sum(r.score if isinstance(r, ChoiceRecord) else r.subtrace.get_score()
                        for r in records.values())
        self._score = float(score)
        self._choices: ChoiceMap | None = None
        self.flow: Dataflow | None = None
        """The traced calls with their arguments' sources, when ``generate`` could note
        them all (see :mod:`gentf.dsl._dataflow`); the gradient pass then needs no replay."""

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
        split_address(addr)  # a clear TypeError for an unhashable address
        record = self.records.get(addr)
        if record is not None:
            return record.value if isinstance(record, ChoiceRecord) else record.subtrace.get_retval()
        if isinstance(addr, Path):
            # The record whose address is the longest proper prefix of ``addr``: a call
            # (look inside its subtrace) or a choice (nothing lies below a choice).
            keys = addr.keys
            for n in range(len(keys) - 1, 0, -1):
                prefix = path(*keys[:n])
                record = self.records.get(prefix)
                if isinstance(record, CallRecord):
                    return record.subtrace[path(*keys[n:])]
                if isinstance(record, ChoiceRecord):
                    raise KeyError(
                        f"address {prefix!r} is a random choice; {addr!r} does not exist")
        raise KeyError(f"no choice or call at address {addr!r} in this trace")

    def __repr__(self) -> str:
        return f"<GenTrace of {self._gen_fn.name}: score {self._score:.6g}, {len(self.records)} records>"
