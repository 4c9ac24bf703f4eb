"""Traced calls: ``gen_fn(args) @ addr`` inside a model body; unaddressed calls run untraced.

``addr`` is one key (``"x"``, ``("y", 3)``) or a hierarchical address ``path("data", 3)``
(Gen's ``{:data => 3} ~ f(...)``): the callee's choices then sit under that path.

While a model body runs, a *call handler* (one per interface operation, provided by the
``@gen`` language) sits on a module-level stack. Calling a generative function or a
distribution inside the body is then resolved by looking at the call site, so a body reads
as in Gen:

- ``f(args) @ addr``: the call returns a :class:`PendingCall`, and ``@ addr`` hands it to
  the innermost handler, which records it in the trace at ``addr`` (Gen's ``addr ~ f(args)``);
- ``f(args).untraced()``: the same PendingCall, run without tracing;
- anything else (``y = f(args)``, ``g(f(args))``, ``f(args)[0] @ addr``): a plain untraced
  call, run at once, returning its return value, like calling a generative function in a
  Gen body without ``~``: its random choices are not traced and its score is not added.

The call site is read from the caller's bytecode and its source positions (the smallest
expression enclosing the call: a matrix-multiplication whose left operand is the call means
traced), cached per code location. Where Python has no source positions (Python 3.10, or
``python -X no_debug_ranges``) a call returns a PendingCall, and using it as a value is a TypeError
naming the fix. With no handler on the stack (outside any model), a call runs untraced.

The stack is process-global and not thread-safe, like autograd's tracer.
"""

from __future__ import annotations

import dis
import sys
from types import CodeType, FrameType
from typing import Any, NoReturn, Protocol

from gentf.gfi._address import Address

__all__ = ["CallHandler", "PendingCall", "active_handler", "pending_call", "pop_handler",
           "push_handler"]


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


def _run_untraced(handler: CallHandler, callee: Any, args: tuple[Any, ...]) -> Any:
    """An untraced call inside a body: the handler's own way if it has one (a gradient
    replay strips autograd's boxes), else ``callee.untraced_call(args)``."""
    run = getattr(handler, "untraced_call", None)
    if run is not None:
        return run(callee, args)
    return callee.untraced_call(args)


# ---- reading the call site --------------------------------------------------------------

# A call site's kind: traced (``f(x) @ addr``), method (``f(x).untraced()``, or an address
# written first), untraced (anything else), unknown (no source positions).
_TRACED, _METHOD, _UNTRACED, _UNKNOWN = "traced", "method", "untraced", "unknown"
_SITES: dict[tuple[int, int], tuple[CodeType, str]] = {}
_INSTRUCTIONS: dict[CodeType, list[dis.Instruction]] = {}


def _call_site(callee: Any, frame: FrameType | None) -> FrameType | None:
    """The frame of the code that called ``callee``, from ``frame`` (the caller of the
    ``__call__`` that made the PendingCall): past any ``__call__`` of ``callee`` (a subclass
    calling ``super().__call__``). Locals are read only where a frame is a ``__call__``."""
    while (frame is not None and frame.f_code.co_name == "__call__"
           and frame.f_locals.get("self") is callee):
        frame = frame.f_back
    return frame


Span = tuple[tuple[int, int], tuple[int, int]]


def _span(ins: dis.Instruction) -> Span | None:
    """``((line, col), (end_line, end_col))`` of an instruction's source, if known."""
    p = getattr(ins, "positions", None)  # Python 3.11+
    if p is None or p.lineno is None or p.end_lineno is None:
        return None
    if p.col_offset is None or p.end_col_offset is None:
        return None
    return (p.lineno, p.col_offset), (p.end_lineno, p.end_col_offset)


def _classify(code: CodeType, offset: int) -> str:
    """How the call at bytecode ``offset`` of ``code`` is used (one of the kinds above)."""
    instructions = _INSTRUCTIONS.get(code)
    if instructions is None:
        instructions = _INSTRUCTIONS[code] = list(dis.get_instructions(code))
    index = next((i for i, ins in enumerate(instructions) if ins.offset == offset), None)
    call = None if index is None else _span(instructions[index])
    if index is None or call is None:
        return _UNKNOWN
    # The operator that consumes the call's value runs after the call and its span
    # encloses the call's. Expressions nest, so the enclosing spans form a chain: keep the
    # innermost, and of equal spans the first (a statement can share its expression's span).
    best: tuple[int, Span] | None = None
    for i in range(index + 1, len(instructions)):
        span = _span(instructions[i])
        if span is None or span == call or not _inside(call, span):
            continue
        if best is None or (span != best[1] and _inside(span, best[1])):
            best = (i, span)
    if best is None:
        return _UNTRACED
    enclosing = instructions[best[0]]
    if enclosing.opname == "BINARY_OP" and enclosing.argrepr.startswith("@"):
        # The call is the LEFT operand when the right operand's code runs between the
        # two; as the right operand (``W @ f(x)``) the operator follows the call at once.
        if best[0] > index + 1:
            return _TRACED
        # A constant on the left (``"x" @ f(x)``) is an address written first: keep the
        # PendingCall, whose ``__rmatmul__`` says so.
        for ins in instructions[:index]:
            span = _span(ins)
            if ins.opname == "LOAD_CONST" and span is not None and span[0] == best[1][0]:
                return _METHOD
        return _UNTRACED
    if enclosing.opname in ("LOAD_ATTR", "LOAD_METHOD") and enclosing.argval == "untraced":
        return _METHOD
    return _UNTRACED


def _inside(inner: Span, outer: Span) -> bool:
    """True when source span ``inner`` lies within ``outer``."""
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def _site_kind(callee: Any, frame: FrameType | None) -> str:
    """The kind of the call site of ``callee`` at or above ``frame`` (see _call_site)."""
    if frame is None:
        return _UNKNOWN
    if frame.f_code.co_name == "__call__":  # (the common case, a body, needs no walk)
        frame = _call_site(callee, frame)
        if frame is None:
            return _UNKNOWN
    # Keyed by the code object's id (hashing a code object hashes its bytecode); the entry
    # holds the code object, so the id is not reused while the entry lives.
    code, offset = frame.f_code, frame.f_lasti
    entry = _SITES.get((id(code), offset))
    if entry is None or entry[0] is not code:
        entry = _SITES[(id(code), offset)] = (code, _classify(code, offset))
    return entry[1]


def pending_call(callee: Any, args: tuple[Any, ...], handler: CallHandler) -> Any:
    """What ``callee.__call__(*args)`` returns inside a body, ``handler`` the innermost:
    ``PendingCall(callee, args, handler)``, or the untraced call's value where the call site
    is not ``f(args) @ addr`` or ``f(args).untraced()``. Called by the library's
    ``__call__`` methods themselves (it reads their caller's frame, two above its own, and
    so makes no frame object for the ``__call__``)."""
    return _pending(callee, args, handler, sys._getframe(2))


def _pending(callee: Any, args: tuple[Any, ...], handler: CallHandler,
             frame: FrameType | None) -> Any:
    """A PendingCall, or the untraced call's value when the site above ``frame`` says so."""
    if _site_kind(callee, frame) == _UNTRACED:
        return _run_untraced(handler, callee, tuple(args))
    self = _make(PendingCall)
    self.callee, self.args, self._handler, self._used = callee, args, handler, False
    return self


def _needs_address(self: PendingCall, *_: Any, **__: Any) -> NoReturn:
    raise TypeError(
        f"{self!r} is a call inside a @gen body that was not given an address: write "
        f"`value = f(args) @ addr` to trace it, or `value = f(args).untraced()` to run it "
        f"without tracing"
    )


class PendingCall:
    """A call of a generative function or distribution made inside a model body.

    ``PendingCall(callee, args, handler)`` is what calling a generative function or a
    distribution inside a body does. Where the call site is ``f(args) @ addr`` or
    ``f(args).untraced()`` it is a PendingCall: ``pending @ addr`` traces it at ``addr``
    and returns its value; ``pending.untraced()`` runs it without recording anything. At
    any other call site the constructor runs the call untraced at once and returns its
    return value instead (Gen's untraced call). Using a PendingCall as a value is a
    TypeError that says so.
    """

    __slots__ = ("_handler", "_used", "args", "callee")

    callee: Any
    args: tuple[Any, ...]
    _handler: CallHandler
    _used: bool

    def __new__(cls, callee: Any, args: tuple[Any, ...], handler: CallHandler) -> Any:
        return _pending(callee, args, handler, sys._getframe(1))  # 1: whoever constructed it

    def __matmul__(self, addr: Address) -> Any:
        if self._used:
            raise RuntimeError(f"{self!r} was already traced; a call is traced once")
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
        return _run_untraced(self._handler, self.callee, self.args)

    def __repr__(self) -> str:
        name = getattr(self.callee, "name", None) or type(self.callee).__name__
        return f"<pending call of {name}>"

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _needs_address
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __neg__ = _needs_address
    __getitem__ = __iter__ = __float__ = __int__ = __bool__ = __len__ = _needs_address
    __array__ = __lt__ = __le__ = __gt__ = __ge__ = _needs_address


_make = object.__new__  # a PendingCall's fields are set by whoever makes one
