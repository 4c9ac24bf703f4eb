"""``ParamUpdate``: one update rule applied to the parameters of several generative functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gentf.gfi._interface import GenerativeFunction, ParamUpdater
from gentf.gfi._param_conf import ParamConf

__all__ = ["ParamUpdate"]


class ParamUpdate:
    """``update = ParamUpdate(conf, gen_fn)`` or ``ParamUpdate(conf, {gen_fn: [param, ...], ...})``.

    ``conf`` is ``FixedStepGradientDescent``, ``GradientDescent`` or ``ADAM``. Each further
    argument names parameters to update, in one of three forms:

    - a generative function: ALL of its parameters (``gen_fn.get_params()``: a ``@gen``
      function's declared parameters, a ``TFFunction``'s Variables), like Gen's
      ``ParamUpdate(conf, gen_fn)``;
    - a dict ``{gen_fn: [param, ...], ...}``;
    - a pair ``(gen_fn, [param, ...])`` (Gen's ``gen_fn => [params]``).

    Each generative function builds its own updater (``gen_fn.make_param_updater``): a
    ``@gen`` function updates its parameters locally, a ``TFFunction`` runs optimizer ops on
    its worker. ``apply()`` moves every listed parameter along its accumulated gradient
    (ascent) and zeroes the accumulators. Rule state (ADAM moments, step counters) lives
    in the updater, so keep one ParamUpdate for a whole training run. A generative function
    may appear only once; one without parameters is refused.
    """

    def __init__(self, conf: ParamConf, params: Any, *more: Any) -> None:
        if not isinstance(conf, ParamConf):
            raise TypeError(
                f"ParamUpdate: expected a ParamConf (FixedStepGradientDescent, GradientDescent, "
                f"ADAM) as the first argument; got {type(conf).__name__}"
            )
        self.conf = conf
        self.updaters: list[ParamUpdater] = []
        seen: list[GenerativeFunction] = []
        for gen_fn, names in _param_lists((params, *more)):
            if any(gen_fn is s for s in seen):
                raise ValueError(f"ParamUpdate: {gen_fn!r} is listed twice")
            seen.append(gen_fn)
            self.updaters.append(gen_fn.make_param_updater(conf, names))

    def apply(self) -> None:
        """Updates every listed parameter from its accumulated gradient, then zeroes it."""
        for updater in self.updaters:
            updater.apply()


def _param_lists(specs: tuple[Any, ...]) -> list[tuple[GenerativeFunction, list[Any]]]:
    """``[(gen_fn, [param, ...]), ...]`` from ParamUpdate's arguments, checked."""
    out: list[tuple[GenerativeFunction, list[Any]]] = []
    for spec in specs:
        if isinstance(spec, GenerativeFunction):
            names = list(spec.get_params())
            if not names:
                raise ValueError(
                    f"ParamUpdate: {spec!r} has no trainable parameters (declare them with "
                    f"@gen(params={{...}}) or pass a TFFunction its Variables)"
                )
            out.append((spec, names))
        elif isinstance(spec, Mapping):
            if not spec:
                raise TypeError("ParamUpdate: got an empty dict of parameters")
            out.extend(_pair(gen_fn, names) for gen_fn, names in spec.items())
        elif isinstance(spec, tuple) and len(spec) == 2:
            out.append(_pair(*spec))
        else:
            raise TypeError(
                "ParamUpdate: expected a generative function (all its parameters), a dict "
                "{gen_fn: [params, ...]} or a pair (gen_fn, [params, ...]); got "
                f"{type(spec).__name__} {spec!r}"
            )
    return out


def _pair(gen_fn: Any, names: Any) -> tuple[GenerativeFunction, list[Any]]:
    if not isinstance(gen_fn, GenerativeFunction):
        raise TypeError(
            f"ParamUpdate: keys must be generative functions; got {type(gen_fn).__name__}"
        )
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise TypeError(
            f"ParamUpdate: the parameters of {gen_fn!r} must be a list; got {names!r}"
        )
    return gen_fn, list(names)
