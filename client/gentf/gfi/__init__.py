"""Gen's generative function interface: traces, choice maps, selections, diffs."""

from gentf.gfi._choicemap import ChoiceMap, EmptyChoiceMap, choicemap
from gentf.gfi._diffs import Diff, NoChange, UnknownChange
from gentf.gfi._interface import (
    GenerativeFunction,
    Trace,
    accumulate_param_gradients,
    assess,
    choice_gradients,
    generate,
    project,
    propose,
    regenerate,
    simulate,
    update,
)
from gentf.gfi._selection import Selection, select

__all__ = [
    "ChoiceMap",
    "Diff",
    "EmptyChoiceMap",
    "GenerativeFunction",
    "NoChange",
    "Selection",
    "Trace",
    "UnknownChange",
    "accumulate_param_gradients",
    "assess",
    "choice_gradients",
    "choicemap",
    "generate",
    "project",
    "propose",
    "regenerate",
    "select",
    "simulate",
    "update",
]
