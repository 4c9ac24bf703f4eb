"""``project`` for ``@gen`` functions: the log density of the selected choices."""

from __future__ import annotations

from gentf.dsl._trace import ChoiceRecord, GenTrace
from gentf.gfi._selection import Selection

__all__ = ["project_gen"]


def project_gen(trace: GenTrace, selection: Selection) -> float:
    """``weight = project_gen(trace, selection)``: selected choices' scores plus callees' projections."""
    weight = 0.0
    for key, record in trace.records.items():
        if isinstance(record, ChoiceRecord):
            if key in selection:
                weight += record.score
        else:
            weight += float(record.subtrace.get_gen_fn().project(
                record.subtrace, selection.get_subselection(key)))
    return weight
