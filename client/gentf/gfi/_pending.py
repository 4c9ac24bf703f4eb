"""Traced calls: ``gen_fn(args) @ addr`` inside a model body.

``addr`` is one key (``"x"``, ``("y", 3)``) or a hierarchical address ``path("data", 3)``
(Gen's ``{:data => 3} ~ f(...)``): the callee's choices then sit under that path.

While a model body runs, a *call handler* (one per interface operation, provided by the
``@gen`` language) sits on a module-level stack. Calling a generative function or a
distribution then returns a :class:`PendingCall` instead of running it; ``pending @ addr``
hands the call to the innermost handler, which records it in the trace at ``addr``.
With no handler on the stack (outside any model), a call runs untraced.

The stack is process-global and not thread-safe, like autograd's tracer.
"""

from __future__ import annotations

from typing import Any, NoReturn, Protocol

from gentf.gfi._address import Address, Path

__all__ = ["CallHandler", "PendingCall", "active_handler", "pop_handler", "push_handler"]


class CallHandler(Protocol):
    """What a model body's traced calls are sent to."""

    def traced_call(self, callee: Any, args: tuple[Any, ...], addr: Address) -> Any:
        """Runs ``callee(*args)`` as the traced call at ``addr`` (a key or a ``path(...)``);
        returns its value."""
        ...


_STACK: list[CallHandler] = []


def push_handler(handler: CallHandler) -> None:
    """Makes ``handler`` receive the traced calls of the body that runs next."""
    _STACK.append(handler)


def pop_handler(handler: CallHandler) -> None:
    """Removes ``handler``, which must be the innermost one."""
    if not _STACK or _STACK[-1] is not handler:
        raise RuntimeError("gentf internal error: call handler stack out of order")
    _STACK.pop()


def active_handler() -> CallHandler | None:
    """The innermost handler, or ``None`` outside any model body."""
    return _STACK[-1] if _STACK else None


def _needs_address(self: PendingCall, *_: Any, **__: Any) -> NoReturn:
    raise TypeError(
        f"{self!r} is a call inside a @gen body that was not given an address: write "
        f"`value = f(args) @ addr` to trace it, or `value = f(args).untraced()` to run it "
        f"without tracing"
    )


class PendingCall:
    """A call of a generative function or distribution made inside a model body.

    ``pending @ addr`` traces it at ``addr`` and returns its value; ``pending.untraced()``
    runs it without recording anything. Using it as a value is a TypeError that says so.
    """

    __slots__ = ("_handler", "_used", "args", "callee")

    def __init__(self, callee: Any, args: tuple[Any, ...], handler: CallHandler) -> None:
        self.callee = callee
        self.args = args
        self._handler = handler
        self._used = False

    def __matmul__(self, addr: Address) -> Any:
        if self._used:
            raise RuntimeError(f"{self!r} was already traced; a call is traced once")
        if not isinstance(addr, Path):
            try:
                hash(addr)
            except TypeError:
                raise TypeError(
                    f"a traced call's address must be hashable (a string, number or tuple) "
                    f"or a path(...); got {type(addr).__name__} {addr!r}"
                ) from None
        if _STACK and _STACK[-1] is not self._handler:
            raise RuntimeError(
                f"{self!r} was created in one model body and traced in another"
            )
        self._used = True
        return self._handler.traced_call(self.callee, self.args, addr)

    def __rmatmul__(self, other: Any) -> NoReturn:
        raise TypeError(
            f"write the call first and the address second: `f(args) @ addr`; got "
            f"{other!r} @ {self!r}"
        )

    def untraced(self) -> Any:
        """``value = f(args).untraced()``: run the call without tracing its choices."""
        if self._used:
            raise RuntimeError(f"{self!r} was already run")
        self._used = True
        return self.callee.untraced_call(self.args)

    def __repr__(self) -> str:
        name = getattr(self.callee, "name", None) or type(self.callee).__name__
        return f"<pending call of {name}>"

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _needs_address
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __neg__ = _needs_address
    __getitem__ = __iter__ = __float__ = __int__ = __bool__ = __len__ = _needs_address
    __array__ = __lt__ = __le__ = __gt__ = __ge__ = _needs_address

