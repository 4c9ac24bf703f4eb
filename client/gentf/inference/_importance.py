"""Importance sampling with the model's internal proposal or a custom proposal."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl._rng import get_rng
from gentf.gfi._choicemap import ChoiceMap
from gentf.gfi._interface import GenerativeFunction, Trace, generate, propose
from gentf.inference._logsumexp import logsumexp
from gentf.inference._progress import progress_bar

__all__ = ["importance_resampling", "importance_sampling"]


def _one(
    model: GenerativeFunction,
    model_args: tuple[Any, ...],
    observations: ChoiceMap,
    proposal: GenerativeFunction | None,
    proposal_args: tuple[Any, ...],
) -> tuple[Trace, float]:
    if proposal is None:
        return generate(model, model_args, observations)
    choices, proposal_weight, _ = propose(proposal, proposal_args)
    trace, model_weight = generate(model, model_args, observations.merge(choices))
    return trace, model_weight - proposal_weight


def importance_sampling(
    model: GenerativeFunction,
    model_args: tuple[Any, ...],
    observations: ChoiceMap,
    num_samples: int,
    *,
    proposal: GenerativeFunction | None = None,
    proposal_args: tuple[Any, ...] = (),
    progress: bool = False,
) -> tuple[list[Trace], np.ndarray, float]:
    """``(traces, log_norm_weights, lml_est) = importance_sampling(model, args, obs, n)``.

    Without ``proposal``, each trace comes from ``generate(model, args, obs)`` and its log
    weight is the generate weight. With a ``proposal``, its choices (sampled by ``propose``
    with ``proposal_args``) are merged with the observations, and the log weight is
    ``generate weight - proposal weight``. ``log_norm_weights`` are normalized (they
    logsumexp to 0) and ``lml_est = logsumexp(log_weights) - log(n)`` estimates
    ``log p(observations)``. ``progress=True`` draws a tqdm bar on stderr (one step per
    sample).
    """
    if num_samples < 1:
        raise ValueError(f"importance_sampling: num_samples must be >= 1; got {num_samples}")
    traces: list[Trace] = []
    log_weights = np.empty(num_samples)
    with progress_bar(num_samples, "importance_sampling", progress) as bar:
        for i in range(num_samples):
            trace, log_weights[i] = _one(model, model_args, observations, proposal,
                                         proposal_args)
            traces.append(trace)
            bar.update(1)
    total = logsumexp(log_weights)
    lml_est = total - float(np.log(num_samples))
    return traces, log_weights - total, lml_est


def importance_resampling(
    model: GenerativeFunction,
    model_args: tuple[Any, ...],
    observations: ChoiceMap,
    num_samples: int,
    *,
    proposal: GenerativeFunction | None = None,
    proposal_args: tuple[Any, ...] = (),
    progress: bool = False,
) -> tuple[Trace, float]:
    """``(trace, lml_est) = importance_resampling(model, args, obs, n)``.

    Draws ``n`` weighted traces as :func:`importance_sampling` does and returns one chosen
    with probability proportional to its weight, with the log marginal likelihood estimate.
    """
    traces, log_norm_weights, lml_est = importance_sampling(
        model, model_args, observations, num_samples,
        proposal=proposal, proposal_args=proposal_args, progress=progress)
    probs = np.exp(log_norm_weights)
    index = int(get_rng().choice(num_samples, p=probs / probs.sum()))
    return traces[index], lml_est
