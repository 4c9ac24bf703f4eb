"""``@gen``: generative functions written as Python functions (Gen's dynamic language)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

import numpy as np

from gentf.dsl._assess import assess_gen
from gentf.dsl._backprop import choice_gradients_gen
from gentf.dsl._direct import accumulate_param_gradients_gen
from gentf.dsl._generate import generate_gen
from gentf.dsl._param_update import LocalParamUpdater
from gentf.dsl._project import project_gen
from gentf.dsl._regenerate import regenerate_gen
from gentf.dsl._simulate import simulate_gen
from gentf.dsl._trace import GenTrace
from gentf.dsl._update import update_gen
from gentf.gfi._choicemap import ChoiceMap
from gentf.gfi._diffs import Diff
from gentf.gfi._interface import GenerativeFunction, ParamUpdater, Trace
from gentf.gfi._param_conf import ParamConf
from gentf.gfi._selection import Selection

__all__ = ["GenFunction", "gen"]


class GenFunction(GenerativeFunction):
    """A generative function whose body is a Python function.

    Inside the body, ``dist(args) @ addr`` makes a random choice and ``gen_fn(args) @ addr``
    calls another generative function (a ``TFFunction`` included), where ``addr`` is a key
    or a hierarchical ``path(...)``; ``param(name)`` reads a
    trainable parameter declared in ``params``. Every argument holding floats is
    differentiable; write arithmetic on values that need gradients with
    ``autograd.numpy`` and never write into arrays in place.

    Calling the function outside a model, or inside a body without ``@ addr``, runs it
    untraced and returns the return value (inside a body its choices are not recorded and
    its score is not added, as in Gen).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        params: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@gen decorates a function; got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__qualname__", None) or repr(fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        for pname, value in (params or {}).items():
            self.init_param(pname, value)
        try:
            sig = inspect.signature(fn)
            positional = [
                p for p in sig.parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            self._num_args = len(positional)
        except (TypeError, ValueError):
            self._num_args = 0

    # ---- parameters ----------------------------------------------------------------------

    def init_param(self, name: str, value: Any) -> None:
        """Declares (or re-initialises) the parameter ``name`` with ``value``; zeroes its gradient."""
        if not isinstance(name, str):
            raise TypeError(f"a parameter name is a str; got {type(name).__name__} {name!r}")
        arr = np.array(value, dtype=np.float64)
        self._params[name] = arr
        self._grads[name] = np.zeros_like(arr)

    def _check_param(self, name: str) -> None:
        if name not in self._params:
            raise KeyError(
                f"@gen function {self.name} has no parameter {name!r}; declared: "
                f"{sorted(self._params)} (declare with @gen(params={{{name!r}: init}}))"
            )

    def get_param(self, name: str) -> np.ndarray:
        """``value = gen_fn.get_param(name)``: a read-only view of the current value."""
        self._check_param(name)
        view = self._params[name].view()
        view.flags.writeable = False
        return view

    def set_param(self, name: str, value: Any) -> None:
        """Sets the value of parameter ``name`` (same shape as before)."""
        self._check_param(name)
        arr = np.array(value, dtype=np.float64)
        if arr.shape != self._params[name].shape:
            raise ValueError(
                f"parameter {name!r} of {self.name} has shape {self._params[name].shape}; "
                f"got a value of shape {arr.shape}"
            )
        self._params[name] = arr

    def get_param_grad(self, name: str) -> np.ndarray:
        """``grad = gen_fn.get_param_grad(name)``: a copy of the accumulated gradient."""
        self._check_param(name)
        return self._grads[name].copy()

    def zero_param_grad(self, name: str) -> None:
        """Resets the accumulated gradient of ``name`` to zero."""
        self._check_param(name)
        self._grads[name] = np.zeros_like(self._params[name])

    def add_param_grad(self, name: str, increment: Any) -> None:
        """Adds ``increment`` into the accumulated gradient of ``name``."""
        self._check_param(name)
        self._grads[name] = self._grads[name] + np.asarray(increment, dtype=np.float64)

    def get_params(self) -> list[str]:
        """The names of the trainable parameters."""
        return list(self._params)

    def make_param_updater(self, conf: ParamConf, params: Sequence[Any]) -> ParamUpdater:
        """``updater = gen_fn.make_param_updater(conf, names)``: a local numpy update rule."""
        return LocalParamUpdater(self, conf, list(params))

    # ---- the interface -------------------------------------------------------------------

    def has_argument_grads(self) -> tuple[bool, ...]:
        """True for each positional argument (floats get gradients, other values ``None``)."""
        return (True,) * self._num_args

    def accepts_output_grad(self) -> bool:
        """True: gradients flow back through the return value."""
        return True

    def simulate(self, args: tuple[Any, ...]) -> Trace:
        """``trace = simulate(gen_fn, args)``: every choice sampled from its distribution."""
        return simulate_gen(self, tuple(args))

    def generate(self, args: tuple[Any, ...], constraints: ChoiceMap) -> tuple[Trace, float]:
        """``(trace, weight) = generate(gen_fn, args, constraints)``.

        Constrained choices take their constraint; the others are sampled. ``weight`` is
        the sum of the constrained choices' log densities plus the callees' generate
        weights. Constraints at addresses the body never visits are ignored (as in Gen).
        """
        return generate_gen(self, tuple(args), constraints)

    def assess(self, args: tuple[Any, ...], choices: ChoiceMap) -> tuple[float, Any]:
        """``(weight, retval) = assess(gen_fn, args, choices)``: ``log p`` of complete choices.

        KeyError if a choice is missing, ValueError if a given choice is never visited.
        """
        return assess_gen(self, tuple(args), choices)

    def update(
        self,
        trace: Trace,
        args: tuple[Any, ...],
        argdiffs: Sequence[Diff],
        constraints: ChoiceMap,
    ) -> tuple[Trace, float, Diff, ChoiceMap]:
        """``(new_trace, weight, retdiff, discard) = update(trace, args, argdiffs, constraints)``.

        Re-runs the body with the new arguments: constrained choices take the constraint,
        kept choices their old value, new unconstrained choices are sampled. ``weight =
        log p(new) - log p(old)`` over the kept and constrained choices, minus removed
        choices (new unconstrained choices do not count). ``discard`` holds replaced and
        removed values. ValueError if a constraint's address is never visited.
        """
        return update_gen(self, _own_trace(self, trace), tuple(args), tuple(argdiffs), constraints)

    def regenerate(
        self,
        trace: Trace,
        args: tuple[Any, ...],
        argdiffs: Sequence[Diff],
        selection: Selection,
    ) -> tuple[Trace, float, Diff]:
        """``(new_trace, weight, retdiff) = regenerate(trace, args, argdiffs, selection)``.

        Selected choices are resampled from their distributions; ``weight`` sums, over
        kept unselected choices, new minus old log density (plus callees' weights).
        """
        return regenerate_gen(self, _own_trace(self, trace), tuple(args), tuple(argdiffs), selection)

    def project(self, trace: Trace, selection: Selection) -> float:
        """``weight = project(trace, selection)``: the selected choices' log densities."""
        return project_gen(_own_trace(self, trace), selection)

    def choice_gradients(
        self, trace: Trace, selection: Selection, retval_grad: Any
    ) -> tuple[tuple[Any, ...], ChoiceMap, ChoiceMap]:
        """``(arg_grads, choice_values, choice_grads) = choice_gradients(trace, selection, retval_grad)``.

        Gradients of ``log p + <retval, retval_grad>`` with respect to the float arguments
        (``None`` for others) and the selected continuous choices; callees are asked for
        theirs with their sub-selection. Parameters are not touched.
        """
        return choice_gradients_gen(_own_trace(self, trace), selection, retval_grad)

    def accumulate_param_gradients(
        self, trace: Trace, retval_grad: Any, scale_factor: float
    ) -> tuple[Any, ...]:
        """``arg_grads = accumulate_param_gradients(trace, retval_grad, scale_factor)``.

        Adds ``scale_factor * d(log p + <retval, retval_grad>)/d(param)`` into this
        function's accumulators and (through each callee) its callees'; returns the
        UNSCALED gradients with respect to the arguments.
        """
        return accumulate_param_gradients_gen(_own_trace(self, trace), retval_grad, scale_factor)

    def accumulate_param_gradients_only(
        self, trace: Trace, retval_grad: Any, scale_factor: float = 1.0
    ) -> None:
        """As :meth:`accumulate_param_gradients`, for a caller that needs no argument
        gradients: arguments are not differentiated, so callees on them (a TFFunction on
        data) can defer their work."""
        accumulate_param_gradients_gen(_own_trace(self, trace), retval_grad, scale_factor,
                                       track_args=False)

    def __repr__(self) -> str:
        return f"<@gen function {self.name}>"


def _own_trace(gen_fn: GenFunction, trace: Trace) -> Any:
    if not isinstance(trace, GenTrace) or trace.get_gen_fn() is not gen_fn:
        raise TypeError(
            f"expected a trace of {gen_fn.name}; got {trace!r}"
        )
    return trace


@overload
def gen(fn: Callable[..., Any], /) -> GenFunction: ...


@overload
def gen(
    *, params: Mapping[str, Any] | None = None, name: str | None = None
) -> Callable[[Callable[..., Any]], GenFunction]: ...


def gen(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> GenFunction | Callable[[Callable[..., Any]], GenFunction]:
    """``@gen`` or ``@gen(params={"w": init, ...})``: a Python function as a generative function.

    Example::

        @gen(params={"w": np.zeros(2)})
        def model(xs):
            w = param("w")
            mu = w[0] * xs + w[1]
            for i in range(len(xs)):
                normal(mu[i], 1.0) @ ("y", i)
    """
    if fn is not None:
        return GenFunction(fn, params=params, name=name)

    def decorate(f: Callable[..., Any]) -> GenFunction:
        return GenFunction(f, params=params, name=name)

    return decorate
