"""``simulate`` for ``@gen`` functions: sample every choice."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from gentf.dsl._exec import BodyHandler, run_body
from gentf.dsl._rng import get_rng
from gentf.dsl._trace import CallRecord, ChoiceRecord, GenTrace, Record
from gentf.dsl.distributions._base import Distribution
from gentf.gfi._interface import GenerativeFunction

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["simulate_gen"]


class _Simulate(BodyHandler):
    def __init__(self, gen_fn: GenFunction) -> None:
        super().__init__(gen_fn)
        self.records: dict[Hashable, Record] = {}

    def visit_choice(self, key: Hashable, dist: Distribution, args: tuple[Any, ...]) -> Any:
        value = dist.sample(get_rng(), *args)
        self.records[key] = ChoiceRecord(dist, value, float(dist.logpdf(value, *args)))
        return value

    def visit_call(self, key: Hashable, callee: GenerativeFunction, args: tuple[Any, ...]) -> Any:
        subtrace = callee.simulate(args)
        self.records[key] = CallRecord(callee, subtrace)
        return subtrace.get_retval()


def simulate_gen(gen_fn: GenFunction, args: tuple[Any, ...]) -> GenTrace:
    """``trace = simulate_gen(gen_fn, args)``."""
    handler = _Simulate(gen_fn)
    retval = run_body(gen_fn, handler, args)
    return GenTrace(gen_fn, args, handler.records, retval)
