"""``train``: maximum likelihood on minibatches from a data generator (Gen's ``train!``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gentf.dsl._rng import get_rng
from gentf.gfi._choicemap import ChoiceMap
from gentf.gfi._interface import GenerativeFunction, accumulate_param_gradients_only, generate
from gentf.inference._param_update import ParamUpdate
from gentf.inference._progress import progress_bar

__all__ = ["train"]

DataGenerator = Callable[[], tuple[tuple[Any, ...], ChoiceMap]]


def train(
    gen_fn: GenerativeFunction,
    data_generator: DataGenerator,
    update: ParamUpdate,
    *,
    num_epoch: int = 1,
    epoch_size: int = 1,
    num_minibatch: int = 1,
    minibatch_size: int = 1,
    evaluation_size: int | None = None,
    progress: bool = True,
    callback: Callable[[int, int, float], None] | None = None,
) -> np.ndarray:
    """``history = train(gen_fn, data_generator, update, num_epoch=..., ...)``.

    Each epoch draws ``epoch_size`` examples ``(args, constraints) = data_generator()``;
    then, ``num_minibatch`` times, picks ``minibatch_size`` of them without replacement,
    runs ``generate`` and ``accumulate_param_gradients`` on each (gradients SUM over the
    minibatch, as in Gen) and calls ``update.apply()``. After each epoch it draws
    ``evaluation_size`` (default ``epoch_size``) fresh examples and records their mean
    generate weight. Returns the held-out history, one value per epoch.
    ``callback(epoch, minibatch, minibatch_objective)`` runs after each update (the
    objective is the minibatch's mean weight); ``progress=False`` turns off the tqdm bar on
    stderr (one step per minibatch).
    """
    if minibatch_size > epoch_size:
        raise ValueError(
            f"train: minibatch_size ({minibatch_size}) cannot exceed epoch_size ({epoch_size})"
        )
    evaluation_size = epoch_size if evaluation_size is None else evaluation_size
    history = np.zeros(num_epoch)
    with progress_bar(num_epoch * num_minibatch, "train", progress) as bar:
        for epoch in range(num_epoch):
            examples = [data_generator() for _ in range(epoch_size)]
            for minibatch in range(num_minibatch):
                idx = get_rng().permutation(epoch_size)[:minibatch_size]
                objective = 0.0
                for i in idx:
                    args, constraints = examples[i]
                    trace, weight = generate(gen_fn, args, constraints)
                    objective += weight
                    accumulate_param_gradients_only(trace)
                update.apply()
                objective /= minibatch_size
                if callback is not None:
                    callback(epoch, minibatch, objective)
                bar.set_postfix_str(f"epoch {epoch + 1} minibatch objective {objective:.4g}",
                                    refresh=False)
                bar.update(1)
            total = 0.0
            for _ in range(evaluation_size):
                args, constraints = data_generator()
                _, weight = generate(gen_fn, args, constraints)
                total += weight
            history[epoch] = total / max(evaluation_size, 1)
            bar.set_postfix_str(f"epoch {epoch + 1} held-out {history[epoch]:.4g}")
    return history
