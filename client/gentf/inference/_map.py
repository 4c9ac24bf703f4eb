"""``map_optimize``: gradient ascent on selected continuous choices with backtracking."""

from __future__ import annotations

from gentf.gfi._choicemap import from_array, to_array
from gentf.gfi._diffs import NoChange
from gentf.gfi._interface import Trace, choice_gradients, update
from gentf.gfi._selection import Selection

__all__ = ["map_optimize"]


def map_optimize(
    trace: Trace,
    selection: Selection,
    *,
    max_step_size: float = 0.1,
    tau: float = 0.5,
    min_step_size: float = 1e-16,
) -> Trace:
    """``new_trace = map_optimize(trace, selection)``: one backtracking gradient step, as in Gen.

    Takes ``values + step * gradient`` of the selected choices, starting at
    ``max_step_size`` and shrinking by ``tau`` until the score does not decrease; returns
    the original trace if the step falls below ``min_step_size``. Call it repeatedly to
    climb to a mode.
    """
    args = trace.get_args()
    argdiffs = tuple(NoChange for _ in args)
    _, values, gradient = choice_gradients(trace, selection, None)
    values_vec = to_array(values)
    gradient_vec = to_array(gradient)
    score = trace.get_score()
    step = max_step_size
    while True:
        new_values = from_array(values, values_vec + step * gradient_vec)
        new_trace, _, _, _ = update(trace, args, argdiffs, new_values)
        if new_trace.get_score() - score >= 0.0:
            return new_trace
        if step < min_step_size:
            return trace
        step *= tau
