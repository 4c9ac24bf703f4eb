"""``black_box_vi``: score-function (REINFORCE) variational inference, as in Gen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gentf.gfi._choicemap import ChoiceMap
from gentf.gfi._interface import (
    GenerativeFunction,
    Trace,
    accumulate_param_gradients_only,
    generate,
    simulate,
)
from gentf.inference._param_update import ParamUpdate
from gentf.inference._progress import progress_bar

__all__ = ["black_box_vi"]


def black_box_vi(
    model: GenerativeFunction,
    model_args: tuple[Any, ...],
    observations: ChoiceMap,
    var_model: GenerativeFunction,
    var_model_args: tuple[Any, ...],
    update: ParamUpdate,
    *,
    iters: int = 1000,
    samples_per_iter: int = 100,
    progress: bool = False,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[float, list[Trace], np.ndarray]:
    """``(elbo_estimate, traces, elbo_history) = black_box_vi(model, args, obs, var_model, var_args, update)``.

    Each iteration simulates ``samples_per_iter`` traces of the variational family, scores
    them under the model (``log_weight = generate weight - variational score``), calls
    ``accumulate_param_gradients(trace, None, log_weight / samples_per_iter)`` on each (the
    learning signal, possibly negative, is the scale factor) and applies ``update``.
    Returns the last iteration's ELBO estimate and traces and the per-iteration history.
    ``progress=True`` draws a tqdm bar on stderr (one step per iteration).
    """
    history = np.zeros(iters)
    traces: list[Trace] = []
    elbo = 0.0
    with progress_bar(iters, "black_box_vi", progress) as bar:
        for it in range(iters):
            elbo = 0.0
            traces = []
            for _ in range(samples_per_iter):
                trace = simulate(var_model, var_model_args)
                constraints = observations.merge(trace.get_choices())
                _, model_weight = generate(model, model_args, constraints)
                log_weight = model_weight - trace.get_score()
                elbo += log_weight / samples_per_iter
                accumulate_param_gradients_only(trace, None, log_weight / samples_per_iter)
                traces.append(trace)
            update.apply()
            history[it] = elbo
            if callback is not None:
                callback(it, elbo)
            bar.set_postfix_str(f"elbo {elbo:.4g}", refresh=False)
            bar.update(1)
    return elbo, traces, history
