"""Gen's generative function interface: abstract traces and generative functions.

Every implementation (``TFFunction``, ``@gen`` functions, distributions wrapped as
generative functions) subclasses :class:`GenerativeFunction` and :class:`Trace` and writes
the core operations; derived operations have default bodies here. The module-level
functions at the bottom dispatch to the generative function of the trace or the first
argument, so user code reads like Gen: ``trace, weight = generate(gen_fn, args, constraints)``.

Conventions (Gen's): a trace's score is ``log p``; weights are log importance weights;
``accumulate_param_gradients`` adds ``scale_factor * d(objective)/d(param)`` into the
parameter accumulators (ascent direction) and returns argument gradients that are NOT
scaled.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gentf.gfi._choicemap import ChoiceMap, EmptyChoiceMap
from gentf.gfi._diffs import Diff, NoChange, UnknownChange
from gentf.gfi._param_conf import ParamConf
from gentf.gfi._pending import active_handler, pending_call
from gentf.gfi._selection import Selection

__all__ = [
    "GenerativeFunction",
    "ParamUpdater",
    "Trace",
    "accumulate_param_gradients",
    "accumulate_param_gradients_only",
    "assess",
    "choice_gradients",
    "generate",
    "get_args",
    "get_choices",
    "get_gen_fn",
    "get_retval",
    "get_score",
    "project",
    "propose",
    "regenerate",
    "simulate",
    "update",
]


class ParamUpdater(Protocol):
    """What ``make_param_updater`` returns: ``apply()`` performs one update step."""

    def apply(self) -> None:
        """Steps the parameters along their accumulated gradients, then zeroes them."""
        ...


class Trace(ABC):
    """A record of one execution of a generative function.

    ``get_score()`` is ``log p(choices; args)`` (0 for a deterministic function).
    ``trace[addr]`` is the value of the random choice at ``addr``, or, for the empty
    address ``()``, the return value.
    """

    @abstractmethod
    def get_gen_fn(self) -> GenerativeFunction:
        """The generative function that produced this trace."""

    @abstractmethod
    def get_args(self) -> tuple[Any, ...]:
        """The arguments the function was called with."""

    @abstractmethod
    def get_retval(self) -> Any:
        """The return value of the execution."""

    @abstractmethod
    def get_choices(self) -> ChoiceMap:
        """The random choices made, as a choice map."""

    @abstractmethod
    def get_score(self) -> float:
        """``log p(choices; args)``."""

    def __getitem__(self, addr: Any) -> Any:
        if addr == ():
            return self.get_retval()
        return self.get_choices()[addr]


class GenerativeFunction(ABC):
    """A generative function: a program that makes traced random choices and returns a value.

    Implementations write :meth:`simulate`, :meth:`generate`, :meth:`update`,
    :meth:`regenerate`, :meth:`project`, :meth:`choice_gradients` and
    :meth:`accumulate_param_gradients`; :meth:`propose`, :meth:`assess` and the untraced
    call have defaults in terms of those.
    """

    @abstractmethod
    def simulate(self, args: tuple[Any, ...]) -> Trace:
        """``trace = simulate(gen_fn, args)``: run with every choice sampled."""

    @abstractmethod
    def generate(self, args: tuple[Any, ...], constraints: ChoiceMap) -> tuple[Trace, float]:
        """``(trace, weight) = generate(gen_fn, args, constraints)``.

        ``weight = log p(t; x) / q(t; u, x)``: with the internal proposal, the sum of the
        log densities of the constrained choices.
        """

    def propose(self, args: tuple[Any, ...]) -> tuple[ChoiceMap, float, Any]:
        """``(choices, weight, retval) = propose(gen_fn, args)``: sample; weight = score."""
        trace = self.simulate(args)
        return trace.get_choices(), trace.get_score(), trace.get_retval()

    def assess(self, args: tuple[Any, ...], choices: ChoiceMap) -> tuple[float, Any]:
        """``(weight, retval) = assess(gen_fn, args, choices)``: ``log p`` of complete choices."""
        trace, weight = self.generate(args, choices)
        return weight, trace.get_retval()

    @abstractmethod
    def update(
        self,
        trace: Trace,
        args: tuple[Any, ...],
        argdiffs: Sequence[Diff],
        constraints: ChoiceMap,
    ) -> tuple[Trace, float, Diff, ChoiceMap]:
        """``(new_trace, weight, retdiff, discard) = update(trace, args, argdiffs, constraints)``.

        ``weight = log p(new) - log p(old)`` (for choices that exist in both, plus new
        constrained ones); ``discard`` holds the values that were replaced or removed.
        """

    @abstractmethod
    def regenerate(
        self,
        trace: Trace,
        args: tuple[Any, ...],
        argdiffs: Sequence[Diff],
        selection: Selection,
    ) -> tuple[Trace, float, Diff]:
        """``(new_trace, weight, retdiff) = regenerate(trace, args, argdiffs, selection)``.

        Resamples the selected choices from the internal proposal.
        """

    @abstractmethod
    def project(self, trace: Trace, selection: Selection) -> float:
        """``weight = project(trace, selection)``: the generate weight restricted to the selection."""

    @abstractmethod
    def choice_gradients(
        self, trace: Trace, selection: Selection, retval_grad: Any
    ) -> tuple[tuple[Any, ...], ChoiceMap, ChoiceMap]:
        """``(arg_grads, choice_values, choice_grads) = choice_gradients(trace, selection, retval_grad)``.

        Gradients of ``log p + <retval, retval_grad>`` with respect to the arguments and the
        selected choices. Parameters are not touched. ``None`` for an argument without a
        gradient.
        """

    @abstractmethod
    def accumulate_param_gradients(
        self, trace: Trace, retval_grad: Any, scale_factor: float
    ) -> tuple[Any, ...]:
        """``arg_grads = accumulate_param_gradients(trace, retval_grad, scale_factor)``.

        Adds ``scale_factor * d(log p + <retval, retval_grad>)/d(param)`` into each
        trainable parameter's gradient accumulator and returns the unscaled gradients with
        respect to the arguments.
        """

    def accumulate_param_gradients_only(self, trace: Trace, retval_grad: Any,
                                        scale_factor: float = 1.0) -> None:
        """``accumulate_param_gradients_only(trace, retval_grad, scale_factor)``.

        :meth:`accumulate_param_gradients` for a caller that needs no argument gradients
        (the modeling layer, when a call's arguments carry none). Implementations may skip
        computing them or defer the work; the default calls accumulate_param_gradients.
        """
        self.accumulate_param_gradients(trace, retval_grad, scale_factor)

    def has_argument_grads(self) -> tuple[bool, ...]:
        """For each argument, whether gradients with respect to it are supported."""
        return ()

    def accepts_output_grad(self) -> bool:
        """Whether the return value is differentiable (``retval_grad`` is meaningful)."""
        return False

    def get_params(self) -> Sequence[Any]:
        """The trainable parameters of this generative function."""
        return ()

    def make_param_updater(self, conf: ParamConf, params: Sequence[Any]) -> ParamUpdater:
        """``updater = gen_fn.make_param_updater(conf, params)``; ``updater.apply()`` updates.

        Each kind of generative function turns a configuration (``FixedStepGradientDescent``,
        ``GradientDescent``, ``ADAM``) into an update of the listed parameters that steps
        along their accumulated gradients and then zeroes the accumulators.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no trainable parameters to update "
            f"(make_param_updater is not implemented for it)"
        )

    def untraced_call(self, args: tuple[Any, ...]) -> Any:
        """``retval = gen_fn.untraced_call(args)``: run and return the return value only."""
        return self.simulate(tuple(args)).get_retval()

    def __call__(self, *args: Any) -> Any:
        """The untraced call: run the function and return its return value only.

        Inside a ``@gen`` body, ``gen_fn(args) @ addr`` traces the call at ``addr`` (the
        call returns a :class:`~gentf.gfi._pending.PendingCall` that ``@ addr`` consumes);
        any other use, ``value = gen_fn(args)`` included, runs it untraced as in Gen: its
        choices are not recorded and its score is not added.
        """
        handler = active_handler()
        if handler is not None:
            return pending_call(self, tuple(args), handler)
        return self.untraced_call(tuple(args))


def simulate(gen_fn: GenerativeFunction, args: tuple[Any, ...]) -> Trace:
    """``trace = simulate(gen_fn, args)``."""
    return gen_fn.simulate(tuple(args))


def _as_choicemap(value: Any, what: str) -> ChoiceMap:
    """``value`` as a ChoiceMap: ``None`` is empty, a dict goes through ``ChoiceMap(...)``."""
    if value is None:
        return EmptyChoiceMap()
    if isinstance(value, ChoiceMap):
        return value
    if isinstance(value, Mapping):
        return ChoiceMap(value)
    raise TypeError(f"{what}: expected a choice map (or a dict of choices); got "
                    f"{type(value).__name__} {value!r}")


def generate(
    gen_fn: GenerativeFunction, args: tuple[Any, ...],
    constraints: ChoiceMap | Mapping[Any, Any] | None = None,
) -> tuple[Trace, float]:
    """``(trace, weight) = generate(gen_fn, args, constraints)``; no constraints: empty.

    A dict of constraints is accepted and read as ``choicemap(dict)``.
    """
    return gen_fn.generate(tuple(args), _as_choicemap(constraints, "generate"))


def propose(gen_fn: GenerativeFunction, args: tuple[Any, ...]) -> tuple[ChoiceMap, float, Any]:
    """``(choices, weight, retval) = propose(gen_fn, args)``."""
    return gen_fn.propose(tuple(args))


def assess(
    gen_fn: GenerativeFunction, args: tuple[Any, ...], choices: ChoiceMap | Mapping[Any, Any]
) -> tuple[float, Any]:
    """``(weight, retval) = assess(gen_fn, args, choices)``; a dict is read as ``choicemap(dict)``."""
    return gen_fn.assess(tuple(args), _as_choicemap(choices, "assess"))


def _args_and_diffs(
    where: str, trace: Trace, args: Any, argdiffs: Any
) -> tuple[tuple[Any, ...], tuple[Diff, ...]]:
    """``args=None``: the trace's arguments, NoChange each; new ``args`` without diffs:
    UnknownChange each. Checks that there is one Diff per argument."""
    if args is None:
        args = trace.get_args()
        if argdiffs is None:
            argdiffs = tuple(NoChange for _ in args)
    elif argdiffs is None:
        argdiffs = tuple(UnknownChange for _ in args)
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(f"{where}: the arguments must be a tuple; got {type(args).__name__} "
                        f"{args!r}")
    if isinstance(argdiffs, Diff) or not isinstance(argdiffs, Sequence):
        raise TypeError(f"{where}: argdiffs must be a tuple with one diff per argument "
                        f"(NoChange or UnknownChange); got {argdiffs!r}")
    if len(argdiffs) != len(args):
        raise ValueError(f"{where}: {len(args)} arguments but {len(argdiffs)} argdiffs")
    for diff in argdiffs:
        if not isinstance(diff, Diff):
            raise TypeError(f"{where}: each argdiff must be NoChange or UnknownChange; got "
                            f"{diff!r}")
    return tuple(args), tuple(argdiffs)


def update(
    trace: Trace,
    args: Any = None,
    argdiffs: Any = None,
    constraints: ChoiceMap | Mapping[Any, Any] | None = None,
) -> tuple[Trace, float, Diff, ChoiceMap]:
    """``(new_trace, weight, retdiff, discard) = update(trace, args, argdiffs, constraints)``.

    Also ``update(trace, constraints)`` (Gen's short form: the trace's own arguments, each
    with ``NoChange``): a ChoiceMap or dict in the second position is the constraints, never
    the arguments. ``args=None`` keeps the trace's arguments (with ``NoChange`` diffs); new
    ``args`` without ``argdiffs`` (or with a choice map in the ``argdiffs`` position,
    ``update(trace, args, constraints)``) means ``UnknownChange`` for each.
    """
    if isinstance(args, (ChoiceMap, Mapping)):
        if argdiffs is not None or constraints is not None:
            raise TypeError(
                "update(trace, constraints) takes nothing after the constraints; the full "
                "form is update(trace, args, argdiffs, constraints)"
            )
        args, constraints = None, args
    elif isinstance(argdiffs, (ChoiceMap, Mapping)):
        if constraints is not None:
            raise TypeError(
                "update: a choice map was given as argdiffs and another as constraints; the "
                "full form is update(trace, args, argdiffs, constraints)"
            )
        argdiffs, constraints = None, argdiffs
    args, argdiffs = _args_and_diffs("update", trace, args, argdiffs)
    return trace.get_gen_fn().update(
        trace, args, argdiffs, _as_choicemap(constraints, "update")
    )


def regenerate(
    trace: Trace,
    args: Any = None,
    argdiffs: Any = None,
    selection: Selection | None = None,
) -> tuple[Trace, float, Diff]:
    """``(new_trace, weight, retdiff) = regenerate(trace, args, argdiffs, selection)``.

    Also ``regenerate(trace, selection)`` (Gen's short form: the trace's own arguments, each
    with ``NoChange``). Argument defaults as for :func:`update`; ``selection=None`` selects
    nothing.
    """
    from gentf.gfi._selection import select

    if isinstance(args, Selection):
        if argdiffs is not None or selection is not None:
            raise TypeError(
                "regenerate(trace, selection) takes nothing after the selection; the full "
                "form is regenerate(trace, args, argdiffs, selection)"
            )
        args, selection = None, args
    elif isinstance(argdiffs, Selection):
        if selection is not None:
            raise TypeError(
                "regenerate: a selection was given as argdiffs and another as selection; the "
                "full form is regenerate(trace, args, argdiffs, selection)"
            )
        argdiffs, selection = None, argdiffs
    args, argdiffs = _args_and_diffs("regenerate", trace, args, argdiffs)
    if selection is not None and not isinstance(selection, Selection):
        raise TypeError(f"regenerate: expected a Selection (select(...)); got "
                        f"{type(selection).__name__} {selection!r}")
    return trace.get_gen_fn().regenerate(
        trace, args, argdiffs, select() if selection is None else selection
    )


def project(trace: Trace, selection: Selection) -> float:
    """``weight = project(trace, selection)``."""
    return trace.get_gen_fn().project(trace, selection)


def choice_gradients(
    trace: Trace, selection: Selection | None = None, retval_grad: Any = None
) -> tuple[tuple[Any, ...], ChoiceMap, ChoiceMap]:
    """``(arg_grads, choice_values, choice_grads) = choice_gradients(trace, selection, retval_grad)``."""
    from gentf.gfi._selection import select

    return trace.get_gen_fn().choice_gradients(
        trace, select() if selection is None else selection, retval_grad
    )


def accumulate_param_gradients(
    trace: Trace, retval_grad: Any = None, scale_factor: float = 1.0
) -> tuple[Any, ...]:
    """``arg_grads = accumulate_param_gradients(trace, retval_grad=None, scale_factor=1.0)``.

    ``retval_grad=None``: nothing flows back through the return value.
    """
    return trace.get_gen_fn().accumulate_param_gradients(trace, retval_grad, float(scale_factor))


def accumulate_param_gradients_only(
    trace: Trace, retval_grad: Any = None, scale_factor: float = 1.0
) -> None:
    """``accumulate_param_gradients_only(trace, retval_grad=None, scale_factor=1.0)``.

    :func:`accumulate_param_gradients` when the argument gradients are not needed (a
    training loop): nothing is differentiated with respect to the arguments, and worker
    calls are deferred to the next call that needs a reply, so a step of ``generate``,
    this and ``ParamUpdate.apply()`` is one round trip to each worker.
    """
    trace.get_gen_fn().accumulate_param_gradients_only(trace, retval_grad, float(scale_factor))


def get_args(trace: Trace) -> tuple[Any, ...]:
    """``args = get_args(trace)``."""
    return trace.get_args()


def get_retval(trace: Trace) -> Any:
    """``retval = get_retval(trace)``."""
    return trace.get_retval()


def get_choices(trace: Trace) -> ChoiceMap:
    """``choices = get_choices(trace)``."""
    return trace.get_choices()


def get_score(trace: Trace) -> float:
    """``score = get_score(trace)``: ``log p(choices; args)``."""
    return trace.get_score()


def get_gen_fn(trace: Trace) -> GenerativeFunction:
    """``gen_fn = get_gen_fn(trace)``."""
    return trace.get_gen_fn()
