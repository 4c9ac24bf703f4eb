"""Which ops a client may put in a session's graph: an allow-list, not a deny-list.

A graph is a program. The worker accepts only the ops models need (math, nn, array, random,
linalg, variables and their updates, the optimizers' dense apply ops, identities and
control dependencies, summaries that touch no file) and every op TensorFlow's gradient
registry emits for those. The list is data, computed by ``tools/gen_op_allowlist.py`` into
``allowlist_data.py``; everything else is refused (PERMISSION_DENIED) before any other
check of the node.

Accepted ops are further confined per node (:func:`check_attrs`, :func:`check_resource_inputs`):
no ``shared_name``/``container`` (state shared across sessions), ``Empty`` always
initialises its memory, and an op acting on a variable must agree with the variable's dtype
(TensorFlow CHECK-fails and kills the process otherwise).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow.core.framework import node_def_pb2

from gentf_server.core import errors
from gentf_server.core.allowlist_data import ALLOWED as _ALLOWED_WHY

__all__ = ["ALLOWED", "VARIABLE_OP", "check_attrs", "check_input_ranks", "check_resource_inputs",
           "is_allowed"]

ALLOWED: frozenset[str] = frozenset(_ALLOWED_WHY)
"""Names of the ops the worker accepts."""

VARIABLE_OP = "VarHandleOp"

# A VarHandleOp node is never run: the worker maps it to the session's own tf.Variable,
# so its shared_name/container attributes (the client sets shared_name) have no effect.
_SHARED_STATE_ATTRS = ("shared_name", "container")

# Attributes that carry the dtype of the variable an op reads or writes.
_VALUE_DTYPE_ATTRS = ("dtype", "T")

# Ops whose resource input may be followed back to the variable (pure forwarding).
_FORWARDING = frozenset({"Identity", "Snapshot"})


# Inputs whose rank a kernel trusts without checking (it CHECK-fails, killing the process,
# when the shape function let an unknown-rank input through): op -> {input index: rank}.
# Found by the op fuzz test: Transpose of a scalar with a scalar perm aborts.
_STATIC_RANKS: dict[str, dict[int, int]] = {
    "Transpose": {1: 1},
    "ConjugateTranspose": {1: 1},
}


def is_allowed(op_name: str) -> bool:
    """True when the worker accepts nodes of op ``op_name``."""
    return op_name in ALLOWED


def check_attrs(tf_def: node_def_pb2.NodeDef, desc: str) -> None:
    """Confines an allowed node's attributes to its session, in place.

    Raises InvalidArgument naming ``desc`` for a non-empty ``shared_name`` or ``container``
    (except on variable nodes, which the worker never runs); forces ``Empty``'s ``init``
    to true (uninitialised memory may hold another session's values).
    """
    if tf_def.op != VARIABLE_OP:
        for key in _SHARED_STATE_ATTRS:
            if key in tf_def.attr and tf_def.attr[key].s:
                raise errors.InvalidArgument(
                    f"{desc}: attribute {key!r} is not allowed (state may not be shared "
                    f"across sessions); leave it empty")
    if tf_def.op == "Empty":
        tf_def.attr["init"].b = True


def check_resource_inputs(op: Any, desc: str) -> None:
    """Checks an imported scratch ``tf.Operation``'s resource inputs.

    Every resource input must be a variable node (possibly through identities), and the
    op's value dtype (its ``dtype`` or ``T`` attribute) must be the variable's dtype.
    Placeholders of resource or variant dtype are refused (nothing can feed them).
    Raises InvalidArgument naming ``desc``.
    """
    if op.type == "Placeholder" and op.get_attr("dtype") in (tf.resource, tf.variant):
        raise errors.InvalidArgument(
            f"{desc}: a placeholder of dtype {op.get_attr('dtype').name} cannot be fed")
    for index, tensor in enumerate(op.inputs):
        if tensor.dtype != tf.resource:
            continue
        source = tensor.op
        while source.type in _FORWARDING:
            source = source.inputs[0].op
        if source.type != VARIABLE_OP:
            raise errors.InvalidArgument(
                f"{desc}: input {index} is a resource handle from {source.type} node "
                f"{source.name!r}; resource inputs must be variables")
        if op.type in _FORWARDING:
            continue
        var_dtype = source.get_attr("dtype")
        for key in _VALUE_DTYPE_ATTRS:
            try:
                value = op.get_attr(key)
            except ValueError:
                continue
            if isinstance(value, tf.DType) and value != var_dtype:
                raise errors.InvalidArgument(
                    f"{desc}: op {op.type} with {key}={value.name} on variable "
                    f"{source.name!r} of dtype {var_dtype.name}; the dtypes must match")


def check_input_ranks(op: Any, desc: str) -> None:
    """InvalidArgument naming ``desc`` unless the inputs whose rank the op's kernel trusts
    have that rank statically (see ``_STATIC_RANKS``)."""
    for index, rank in _STATIC_RANKS.get(op.type, {}).items():
        got = op.inputs[index].shape.rank
        if got != rank:
            raise errors.InvalidArgument(
                f"{desc}: input {index} of {op.type} must have rank {rank} known before running "
                f"(it has {'an unknown rank' if got is None else f'rank {got}'})")
