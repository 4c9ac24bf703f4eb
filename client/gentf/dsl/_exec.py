"""Running a ``@gen`` body under a handler: one handler class per interface operation.

A handler receives each traced call (``dist(args) @ key`` or ``gen_fn(args) @ key``) of
the body, refuses duplicate addresses, and serves ``param(name)`` reads.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from gentf.dsl.distributions._base import Distribution
from gentf.gfi._interface import GenerativeFunction
from gentf.gfi._pending import active_handler, pop_handler, push_handler

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["BodyHandler", "param", "run_body"]


class BodyHandler:
    """Base handler: address bookkeeping and parameter reads; subclasses visit calls."""

    def __init__(self, gen_fn: GenFunction) -> None:
        self.gen_fn = gen_fn
        self.visited: set[Hashable] = set()

    def traced_call(self, callee: Any, args: tuple[Any, ...], key: Hashable) -> Any:
        """Dispatches ``callee(args) @ key`` to :meth:`visit_choice` or :meth:`visit_call`."""
        if key in self.visited:
            raise ValueError(
                f"@gen function {self.gen_fn.name}: address {key!r} was used twice in one "
                f"execution; every random choice and call needs its own address"
            )
        self.visited.add(key)
        if isinstance(callee, Distribution):
            return self.visit_choice(key, callee, args)
        if isinstance(callee, GenerativeFunction):
            return self.visit_call(key, callee, args)
        raise TypeError(
            f"`f(args) @ {key!r}`: expected a distribution or a generative function; got "
            f"{type(callee).__name__}"
        )

    def visit_choice(self, key: Hashable, dist: Distribution, args: tuple[Any, ...]) -> Any:
        """Makes the random choice at ``key``; returns its value."""
        raise NotImplementedError

    def visit_call(
        self, key: Hashable, callee: GenerativeFunction, args: tuple[Any, ...]
    ) -> Any:
        """Makes the call at ``key``; returns the callee's return value."""
        raise NotImplementedError

    def read_param(self, name: str) -> Any:
        """The current value of the function's parameter ``name`` (read-only)."""
        return self.gen_fn.get_param(name)


def run_body(gen_fn: GenFunction, handler: BodyHandler, args: tuple[Any, ...]) -> Any:
    """``retval = run_body(gen_fn, handler, args)``: the body with ``handler`` receiving calls."""
    push_handler(handler)
    try:
        return gen_fn.fn(*args)
    finally:
        pop_handler(handler)


def param(name: str) -> Any:
    """``value = param(name)``: inside a ``@gen`` body, the trainable parameter ``name``.

    The parameter must be declared with ``@gen(params={name: initial_value})``. Gradients
    of the objective with respect to it are accumulated by ``accumulate_param_gradients``.
    """
    handler = active_handler()
    if not isinstance(handler, BodyHandler):
        raise RuntimeError(  # noqa: TRY004 - called in the wrong place
            f"param({name!r}) reads a trainable parameter and works only inside a @gen body; "
            f"outside one use get_param(gen_fn, {name!r})"
        )
    return handler.read_param(name)
