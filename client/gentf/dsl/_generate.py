"""``generate`` for ``@gen`` functions: constrained choices take their constraints."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from autograd.tracer import Box

from gentf.dsl._dataflow import Dataflow
from gentf.dsl._exec import BodyHandler, run_body
from gentf.dsl._rng import get_rng
from gentf.dsl._trace import CallRecord, ChoiceRecord, GenTrace, Record
from gentf.dsl.distributions._base import Distribution
from gentf.gfi._address import Path
from gentf.gfi._choicemap import ChoiceMap, EmptyChoiceMap
from gentf.gfi._interface import GenerativeFunction

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["generate_gen", "leaf_constraint"]

_MISSING = object()
_new_record = tuple.__new__  # a record (a NamedTuple) made without NamedTuple's own __new__


def leaf_constraint(constraints: ChoiceMap, key: Hashable, where: str) -> tuple[bool, Any]:
    """``(constrained, value)`` for the choice at ``key``; error if a submap sits there."""
    found, value = constraints.lookup_value(key)
    if found:
        return True, value
    if key in constraints:
        raise ValueError(
            f"{where}: address {key!r} is a random choice, but the constraints hold a submap "
            f"there: {constraints[key]!r}"
        )
    return False, None


def call_constraints(constraints: ChoiceMap, key: Hashable, where: str) -> ChoiceMap:
    """The constraints under the call at ``key``; error if a value sits there."""
    if constraints.has_value(key):
        raise ValueError(
            f"{where}: address {key!r} is a call of a generative function, but the "
            f"constraints hold a value there: {constraints.get_value(key)!r}"
        )
    return constraints.get_submap(key)


class _Generate(BodyHandler):
    def __init__(self, gen_fn: GenFunction, constraints: ChoiceMap,
                 args: tuple[Any, ...]) -> None:
        super().__init__(gen_fn)
        self.constraints = constraints
        self._value_at = constraints._values_by_key().get  # (key, default): a leaf's value
        self._submap_at = constraints._submaps_by_key().get  # key: a non-empty submap or None
        self.records: dict[Hashable, Record] = {}
        self.weight = 0.0
        self.score: Any = 0  # the records' scores summed as GenTrace would (``sum``, from 0)
        self.flow: Dataflow | None = Dataflow(args)  # None once a source is unknown

    def read_param(self, name: str) -> Any:
        value = super().read_param(name)
        if self.flow is not None:
            self.flow.param(name, value)
        return value

    def visit_choice(self, key: Hashable, dist: Distribution, args: tuple[Any, ...]) -> Any:
        flow = self.flow
        plain = flow is not None and flow.call(key, dist, args)  # no box, no container
        if flow is not None and not plain:
            self.flow = None
        value = self._value_at(key, _MISSING)  # the common case: a key holding a value
        constrained = value is not _MISSING
        if not constrained:
            constrained, value = leaf_constraint(self.constraints, key, "generate")  # checks
            if not constrained:
                value = dist.sample(get_rng(), *args)
        if plain and not isinstance(value, Box):  # what logpdf would call (one argument: no
            score = float(dist._logpdf(value, args[0]) if len(args) == 1  # star call's tuple)
                          else dist._logpdf(value, *args))
        else:
            score = float(dist.logpdf(value, *args))
        if constrained:
            self.weight += score
        self.score += score
        self.records[key] = _new_record(ChoiceRecord, (dist, value, score))
        return value

    def visit_call(self, key: Hashable, callee: GenerativeFunction, args: tuple[Any, ...]) -> Any:
        flow = self.flow
        if flow is not None and not flow.call(key, callee, args):
            self.flow = flow = None
        sub: ChoiceMap | None
        if type(key) is Path or self._value_at(key, _MISSING) is not _MISSING:
            sub = call_constraints(self.constraints, key, "generate")  # (and its checks)
        else:  # one key (hashable: traced_call added it to a set) holding no value
            sub = self._submap_at(key)
            if sub is None:
                sub = EmptyChoiceMap()
        subtrace, weight = callee.generate(args, sub)
        self.weight += float(weight)
        self.score += subtrace.get_score()
        self.records[key] = _new_record(CallRecord, (callee, subtrace))
        retval = subtrace.get_retval()
        if flow is not None:
            flow.returned(key, retval, callee.accepts_output_grad())
        return retval


def generate_gen(
    gen_fn: GenFunction, args: tuple[Any, ...], constraints: ChoiceMap
) -> tuple[GenTrace, float]:
    """``(trace, weight) = generate_gen(gen_fn, args, constraints)``."""
    if not isinstance(constraints, ChoiceMap):
        raise TypeError(f"generate: constraints must be a ChoiceMap; got {type(constraints).__name__}")
    handler = _Generate(gen_fn, constraints, args)
    retval = run_body(gen_fn, handler, args)
    trace = GenTrace(gen_fn, args, handler.records, retval, handler.score)
    if handler.flow is not None:
        trace.flow = handler.flow
    return trace, handler.weight
