"""``regenerate`` for ``@gen`` functions: resample the selected choices."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from gentf.dsl._argdiffs import call_argdiffs
from gentf.dsl._exec import BodyHandler, run_body
from gentf.dsl._rng import get_rng
from gentf.dsl._trace import CallRecord, ChoiceRecord, GenTrace, Record
from gentf.dsl.distributions._base import Distribution
from gentf.gfi._choicemap import EmptyChoiceMap
from gentf.gfi._diffs import Diff, UnknownChange
from gentf.gfi._interface import GenerativeFunction
from gentf.gfi._selection import Selection

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["regenerate_gen"]


class _Regenerate(BodyHandler):
    def __init__(self, gen_fn: GenFunction, prev: GenTrace, selection: Selection) -> None:
        super().__init__(gen_fn)
        self.prev = prev
        self.selection = selection
        self.records: dict[Hashable, Record] = {}
        self.weight = 0.0

    def visit_choice(self, key: Hashable, dist: Distribution, args: tuple[Any, ...]) -> Any:
        prev = self.prev.records.get(key)
        keep = isinstance(prev, ChoiceRecord) and key not in self.selection
        value = prev.value if keep and isinstance(prev, ChoiceRecord) else dist.sample(get_rng(), *args)
        score = float(dist.logpdf(value, *args))
        if keep and isinstance(prev, ChoiceRecord):
            self.weight += score - prev.score
        self.records[key] = ChoiceRecord(dist, value, score)
        return value

    def visit_call(self, key: Hashable, callee: GenerativeFunction, args: tuple[Any, ...]) -> Any:
        prev = self.prev.records.get(key)
        if isinstance(prev, CallRecord):
            if prev.callee is not callee:
                raise ValueError(
                    f"regenerate of {self.gen_fn.name}: the call at {key!r} was to "
                    f"{prev.callee!r} and is now to {callee!r}; a call address must keep its "
                    f"generative function"
                )
            argdiffs = call_argdiffs(prev.subtrace.get_args(), args)
            subtrace, weight, _ = callee.regenerate(
                prev.subtrace, args, argdiffs, self.selection.get_subselection(key)
            )
        else:
            subtrace, weight = callee.generate(args, EmptyChoiceMap())
        self.weight += float(weight)
        self.records[key] = CallRecord(callee, subtrace)
        return subtrace.get_retval()


def regenerate_gen(
    gen_fn: GenFunction,
    prev: GenTrace,
    args: tuple[Any, ...],
    argdiffs: tuple[Diff, ...],
    selection: Selection,
) -> tuple[GenTrace, float, Diff]:
    """``(new_trace, weight, retdiff) = regenerate_gen(gen_fn, prev, args, argdiffs, selection)``.

    Removed choices do not change the weight (the reverse move would resample them from
    their distributions), as in Gen.
    """
    if len(argdiffs) != len(args):
        raise ValueError(f"regenerate: {len(args)} arguments but {len(argdiffs)} argdiffs")
    handler = _Regenerate(gen_fn, prev, selection)
    retval = run_body(gen_fn, handler, args)
    return GenTrace(gen_fn, args, handler.records, retval), handler.weight, UnknownChange
