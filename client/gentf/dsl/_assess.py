"""``assess`` for ``@gen`` functions: ``log p`` of a complete set of choices."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Any

from gentf.dsl._exec import BodyHandler, run_body
from gentf.dsl._generate import call_constraints, leaf_constraint
from gentf.dsl.distributions._base import Distribution
from gentf.gfi._address import Address
from gentf.gfi._choicemap import ChoiceMap
from gentf.gfi._interface import GenerativeFunction
from gentf.gfi._selection import HierarchicalSelection

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["assess_gen", "check_all_visited"]


def check_all_visited(choices: ChoiceMap, visited: Iterable[Address], where: str) -> None:
    """ValueError naming the addresses of ``choices`` that no visited address covers.

    A value is covered when its address, or a call address above it, was visited (the
    callee then checks the choices under its own address), as in Gen's ``all_visited``.
    """
    tree = HierarchicalSelection(tuple(visited))
    unvisited = [addr for addr, _ in choices.leaves() if addr not in tree]
    if unvisited:
        shown = ", ".join(repr(a) for a in unvisited[:10])
        more = f" and {len(unvisited) - 10} more" if len(unvisited) > 10 else ""
        raise ValueError(
            f"{where}: these addresses were given but the body never visited them: "
            f"[{shown}]{more}"
        )


class _Assess(BodyHandler):
    def __init__(self, gen_fn: GenFunction, choices: ChoiceMap) -> None:
        super().__init__(gen_fn)
        self.choices = choices
        self.weight = 0.0

    def visit_choice(self, key: Hashable, dist: Distribution, args: tuple[Any, ...]) -> Any:
        given, value = leaf_constraint(self.choices, key, "assess")
        if not given:
            raise KeyError(
                f"assess of {self.gen_fn.name}: no value for the random choice at {key!r}; "
                f"assess needs every choice"
            )
        self.weight += float(dist.logpdf(value, *args))
        return value

    def visit_call(self, key: Hashable, callee: GenerativeFunction, args: tuple[Any, ...]) -> Any:
        weight, retval = callee.assess(args, call_constraints(self.choices, key, "assess"))
        self.weight += float(weight)
        return retval


def assess_gen(
    gen_fn: GenFunction, args: tuple[Any, ...], choices: ChoiceMap
) -> tuple[float, Any]:
    """``(weight, retval) = assess_gen(gen_fn, args, choices)``."""
    handler = _Assess(gen_fn, choices)
    retval = run_body(gen_fn, handler, args)
    check_all_visited(choices, handler.visited, f"assess of {gen_fn.name}")
    return handler.weight, retval
