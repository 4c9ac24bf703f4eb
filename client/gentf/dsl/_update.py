"""``update`` for ``@gen`` functions: re-run with new arguments and constraints."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from gentf.dsl._argdiffs import call_argdiffs
from gentf.dsl._assess import check_all_visited
from gentf.dsl._exec import BodyHandler, run_body
from gentf.dsl._generate import call_constraints, leaf_constraint
from gentf.dsl._rng import get_rng
from gentf.dsl._trace import CallRecord, ChoiceRecord, GenTrace, Record
from gentf.dsl.distributions._base import Distribution
from gentf.gfi._choicemap import ChoiceMap
from gentf.gfi._diffs import Diff, UnknownChange
from gentf.gfi._interface import GenerativeFunction

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["discard_removed", "update_gen"]


class _Update(BodyHandler):
    def __init__(self, gen_fn: GenFunction, prev: GenTrace, constraints: ChoiceMap) -> None:
        super().__init__(gen_fn)
        self.prev = prev
        self.constraints = constraints
        self.records: dict[Hashable, Record] = {}
        self.weight = 0.0
        self.discard = ChoiceMap()

    def visit_choice(self, key: Hashable, dist: Distribution, args: tuple[Any, ...]) -> Any:
        constrained, value = leaf_constraint(self.constraints, key, "update")
        prev = self.prev.records.get(key)
        if constrained:
            if isinstance(prev, ChoiceRecord):
                self.discard.set_value(key, prev.value)
        elif isinstance(prev, ChoiceRecord):
            value = prev.value
        else:
            value = dist.sample(get_rng(), *args)
        score = float(dist.logpdf(value, *args))
        if isinstance(prev, ChoiceRecord):
            self.weight += score - prev.score
        elif constrained:
            self.weight += score
        self.records[key] = ChoiceRecord(dist, value, score)
        return value

    def visit_call(self, key: Hashable, callee: GenerativeFunction, args: tuple[Any, ...]) -> Any:
        sub = call_constraints(self.constraints, key, "update")
        prev = self.prev.records.get(key)
        if isinstance(prev, CallRecord) and prev.callee is callee:
            argdiffs = call_argdiffs(prev.subtrace.get_args(), args)
            subtrace, weight, _, sub_discard = callee.update(prev.subtrace, args, argdiffs, sub)
            self.discard.set_submap(key, sub_discard)
        else:
            if isinstance(prev, CallRecord):
                raise ValueError(
                    f"update of {self.gen_fn.name}: the call at {key!r} was to "
                    f"{prev.callee!r} and is now to {callee!r}; a call address must keep its "
                    f"generative function"
                )
            subtrace, weight = callee.generate(args, sub)
        self.weight += float(weight)
        self.records[key] = CallRecord(callee, subtrace)
        return subtrace.get_retval()


def discard_removed(
    prev: GenTrace, visited: set[Hashable], discard: ChoiceMap
) -> float:
    """Puts the choices of ``prev`` that were not visited into ``discard``.

    Returns the log density they carried (choices' scores plus removed calls' scores).
    """
    removed = 0.0
    for key, record in prev.records.items():
        if key in visited:
            continue
        if isinstance(record, ChoiceRecord):
            discard.set_value(key, record.value)
            removed += record.score
        else:
            discard.set_submap(key, record.subtrace.get_choices())
            removed += record.subtrace.get_score()
    return removed


def update_gen(
    gen_fn: GenFunction,
    prev: GenTrace,
    args: tuple[Any, ...],
    argdiffs: tuple[Diff, ...],
    constraints: ChoiceMap,
) -> tuple[GenTrace, float, Diff, ChoiceMap]:
    """``(new_trace, weight, retdiff, discard) = update_gen(gen_fn, prev, args, argdiffs, constraints)``."""
    if len(argdiffs) != len(args):
        raise ValueError(f"update: {len(args)} arguments but {len(argdiffs)} argdiffs")
    handler = _Update(gen_fn, prev, constraints)
    retval = run_body(gen_fn, handler, args)
    check_all_visited(constraints, handler.visited, f"update of {gen_fn.name}")
    # A choice that was a choice before but is visited now as a call (or vice versa) was
    # handled as new; its old record is removed too.
    visited_same = {
        k for k in handler.visited
        if k in prev.records and type(prev.records[k]) is type(handler.records[k])
    }
    handler.weight -= discard_removed(prev, visited_same, handler.discard)
    trace = GenTrace(gen_fn, args, handler.records, retval)
    return trace, handler.weight, UnknownChange, handler.discard
