"""Metropolis-Hastings: by selection (resample from the prior) or with a custom proposal."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl._rng import get_rng
from gentf.gfi._diffs import NoChange
from gentf.gfi._interface import GenerativeFunction, Trace, assess, propose, regenerate, update
from gentf.gfi._selection import Selection

__all__ = ["metropolis_hastings", "mh"]


def _accept(log_alpha: float) -> bool:
    return bool(np.log(get_rng().random()) < log_alpha)


def metropolis_hastings(
    trace: Trace,
    selection_or_proposal: Selection | GenerativeFunction,
    proposal_args: tuple[Any, ...] = (),
) -> tuple[Trace, bool]:
    """``(new_trace, accepted) = metropolis_hastings(trace, selection)`` or ``(trace, proposal, args)``.

    With a selection, the selected choices are resampled by ``regenerate`` and the move is
    accepted with probability ``min(1, exp(weight))``. With a proposal, it is called as
    ``proposal(trace, *proposal_args)``; its choices are written into the trace by
    ``update`` and the acceptance ratio is ``update weight - forward proposal weight +
    backward proposal weight`` (the backward weight by ``assess`` of the discarded
    choices), as in Gen.
    """
    args = trace.get_args()
    argdiffs = tuple(NoChange for _ in args)
    if isinstance(selection_or_proposal, Selection):
        new_trace, weight, _ = regenerate(trace, args, argdiffs, selection_or_proposal)
        return (new_trace, True) if _accept(weight) else (trace, False)
    if isinstance(selection_or_proposal, GenerativeFunction):
        proposal = selection_or_proposal
        fwd_choices, fwd_weight, _ = propose(proposal, (trace, *proposal_args))
        new_trace, weight, _, discard = update(trace, args, argdiffs, fwd_choices)
        bwd_weight, _ = assess(proposal, (new_trace, *proposal_args), discard)
        log_alpha = weight - fwd_weight + bwd_weight
        return (new_trace, True) if _accept(log_alpha) else (trace, False)
    raise TypeError(
        f"metropolis_hastings: expected a Selection or a proposal generative function; got "
        f"{type(selection_or_proposal).__name__}"
    )


mh = metropolis_hastings
"""Short name of :func:`metropolis_hastings`."""
