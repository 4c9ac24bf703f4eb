"""Snapshots of variables, for undoing a call that failed half way.

A snapshot holds a reference to each variable's current buffer: TensorFlow copies a
variable's buffer when it is written while another reference to it is alive (copy on
write), so holding the reference costs nothing until the variable is written, and then one
copy of that variable.

:func:`snapshot` reads with the bare ``ReadVariableOp`` (one eager op a variable, about
13 us) where ``tf.Variable.value()`` runs two (it also switches the variable out of
copy-on-read mode) and twice the Python: a training step writes ten or more variables, so
this is a tenth of the worker's share of a small step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
from tensorflow.python.ops import gen_resource_variable_ops

__all__ = ["Snapshot", "restore", "snapshot"]

Snapshot = list[tuple[tf.Variable, Any]]
"""(variable, its value when the snapshot was taken), per variable."""


def snapshot(variables: Sequence[tf.Variable]) -> Snapshot:
    """The current value of each variable (a read placed on the variable's device; a
    variable in copy-on-read mode is copied)."""
    read = gen_resource_variable_ops.read_variable_op
    return [(v, read(v.handle, v.dtype)) for v in variables]


def restore(saved: Snapshot) -> None:
    """Writes every saved value back."""
    for variable, value in saved:
        variable.assign(value)
