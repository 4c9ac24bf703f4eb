"""Running a ``@gen`` body under a handler: one handler class per interface operation.

A handler receives each traced call (``dist(args) @ addr`` or ``gen_fn(args) @ addr``) of
the body, refuses an address used twice (or one inside another: a choice at ``"a"`` and
a call at ``path("a", 1)``), and serves ``param(name)`` reads. An address is a key or a
hierarchical ``path(...)``; the trace records each call under the address as written.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from autograd.tracer import Box, getval

from gentf.dsl.distributions._base import Distribution
from gentf.gfi._address import Address, Path
from gentf.gfi._interface import GenerativeFunction
from gentf.gfi._pending import active_handler, pop_handler, push_handler

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["BodyHandler", "param", "run_body"]


class BodyHandler:
    """Base handler: address bookkeeping and parameter reads; subclasses visit calls.

    ``visited`` holds every address visited so far, as written (keys and paths).
    """

    def __init__(self, gen_fn: GenFunction) -> None:
        self.gen_fn = gen_fn
        self.visited: set[Hashable] = set()
        # Kept once a path(...) is visited (until then, one key clashes only with itself):
        self._taken: set[tuple[Hashable, ...]] = set()  # visited addresses, as key tuples
        self._inner: set[tuple[Hashable, ...]] = set()  # their proper prefixes
        self._paths = False

    def _visit(self, addr: Address) -> None:
        if not self._paths:
            self._paths = True
            self._taken.update((a,) for a in self.visited)  # the keys so far
        keys = addr.keys if isinstance(addr, Path) else (addr,)
        if keys in self._taken:
            raise ValueError(
                f"@gen function {self.gen_fn.name}: address {addr!r} was used twice in one "
                f"execution; every random choice and call needs its own address"
            )
        if keys in self._inner or (len(keys) > 1 and any(
                keys[:n] in self._taken for n in range(1, len(keys)))):
            clash = next(a for a in self.visited if _nested(a, addr) or _nested(addr, a))
            raise ValueError(
                f"@gen function {self.gen_fn.name}: address {addr!r} and address {clash!r} "
                f"overlap (one lies inside the other); a random choice or call cannot sit "
                f"inside another one's address"
            )
        self.visited.add(addr)
        self._taken.add(keys)
        for n in range(1, len(keys)):
            self._inner.add(keys[:n])

    def traced_call(self, callee: Any, args: tuple[Any, ...], key: Address) -> Any:
        """Dispatches ``callee(args) @ key`` to :meth:`visit_choice` or :meth:`visit_call`."""
        try:
            if self._paths or isinstance(key, Path):
                self._visit(key)
            elif key in self.visited:  # one key, the common case: it clashes only with itself
                self._visit(key)  # raises, naming the clash
            else:
                self.visited.add(key)
        except TypeError:  # (a Path's keys are hashable: checked when it was made)
            raise TypeError(
                f"a traced call's address must be hashable (a string, number or tuple) or a "
                f"path(...); got {type(key).__name__} {key!r}"
            ) from None
        if isinstance(callee, Distribution):
            return self.visit_choice(key, callee, args)
        if isinstance(callee, GenerativeFunction):
            return self.visit_call(key, callee, args)
        raise TypeError(
            f"`f(args) @ {key!r}`: expected a distribution or a generative function; got "
            f"{type(callee).__name__}"
        )

    def visit_choice(self, key: Address, dist: Distribution, args: tuple[Any, ...]) -> Any:
        """Makes the random choice at ``key`` (a key or a path); returns its value."""
        raise NotImplementedError

    def visit_call(
        self, key: Address, callee: GenerativeFunction, args: tuple[Any, ...]
    ) -> Any:
        """Makes the call at ``key`` (a key or a path); returns the callee's return value."""
        raise NotImplementedError

    def untraced_call(self, callee: Any, args: tuple[Any, ...]) -> Any:
        """An unaddressed call in the body (``y = f(x)``): ``callee.untraced_call(args)``.

        Nothing is recorded, and no gradient flows through it: values that carry
        gradients (during a gradient replay) are passed as plain values.
        """
        return callee.untraced_call(tuple(_plain(a) for a in args))

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


def _plain(x: Any) -> Any:
    """``x`` with autograd's boxes replaced by their values (inside tuples and lists too)."""
    if isinstance(x, Box):
        return _plain(getval(x))
    if isinstance(x, (tuple, list)):
        return type(x)(_plain(e) for e in x)
    return x


def _keys(addr: Address) -> tuple[Hashable, ...]:
    return addr.keys if isinstance(addr, Path) else (addr,)


def _nested(outer: Address, inner: Address) -> bool:
    """True when ``inner`` is ``outer`` or lies below it."""
    o, i = _keys(outer), _keys(inner)
    return len(o) <= len(i) and i[:len(o)] == o
