"""``ParamUpdate``: one update rule applied to the parameters of several generative functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gentf.gfi._interface import GenerativeFunction, ParamUpdater
from gentf.gfi._param_conf import ParamConf

__all__ = ["ParamUpdate"]


class ParamUpdate:
    """``update = ParamUpdate(conf, {gen_fn: [param, ...], ...})``; ``update.apply()`` steps.

    ``conf`` is ``FixedStepGradientDescent``, ``GradientDescent`` or ``ADAM``. Each
    generative function builds its own updater (``gen_fn.make_param_updater``): a ``@gen``
    function updates its named parameters locally, a ``TFFunction`` runs optimizer ops on
    its worker. ``apply()`` moves every listed parameter along its accumulated gradient
    (ascent) and zeroes the accumulators. Rule state (ADAM moments, step counters) lives
    in the updater, so keep one ParamUpdate for a whole training run.
    """

    def __init__(
        self, conf: ParamConf, params: Mapping[GenerativeFunction, Sequence[Any]]
    ) -> None:
        if not isinstance(conf, ParamConf):
            raise TypeError(
                f"ParamUpdate: expected a ParamConf (FixedStepGradientDescent, GradientDescent, "
                f"ADAM) as the first argument; got {type(conf).__name__}"
            )
        if not isinstance(params, Mapping) or not params:
            raise TypeError(
                "ParamUpdate: expected a non-empty dict {gen_fn: [params, ...]} as the second "
                f"argument; got {params!r}"
            )
        self.conf = conf
        self.updaters: list[ParamUpdater] = []
        for gen_fn, names in params.items():
            if not isinstance(gen_fn, GenerativeFunction):
                raise TypeError(
                    f"ParamUpdate: keys must be generative functions; got {type(gen_fn).__name__}"
                )
            if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
                raise TypeError(
                    f"ParamUpdate: the parameters of {gen_fn!r} must be a list; got {names!r}"
                )
            self.updaters.append(gen_fn.make_param_updater(conf, list(names)))

    def apply(self) -> None:
        """Updates every listed parameter from its accumulated gradient, then zeroes it."""
        for updater in self.updaters:
            updater.apply()
