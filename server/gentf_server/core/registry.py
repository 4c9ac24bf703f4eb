"""The op registry the worker serves, and which ops it refuses to run.

A graph is a program: the worker accepts only the ops on its allow-list (see ``allowlist``);
every other op is reported as ``refused`` and rejected with PERMISSION_DENIED.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import tensorflow as tf
from gentf.v1 import graph_pb2, worker_pb2
from tensorflow.core.framework import attr_value_pb2, op_def_pb2
from tensorflow.python.client import pywrap_tf_session
from tensorflow.python.framework import ops as tf_ops

from gentf_server.core import errors
from gentf_server.core.allowlist import is_allowed
from gentf_server.core.convert import attr_from_tf

__all__ = ["READ_ONLY_OPS", "OpRegistry", "has_effects", "is_refused", "op_registry"]

READ_ONLY_OPS = frozenset({"ReadVariableOp", "VariableShape", "VarIsInitializedOp",
                           "ResourceGather", "ResourceGatherNd"})
"""Stateful ops that only read a variable."""


def has_effects(op_name: str) -> bool:
    """Whether an op is stateful in any way but reading a variable (it writes, draws random
    numbers, or has another effect; an op TensorFlow does not know counts as one)."""
    if op_name in READ_ONLY_OPS:
        return False
    from tensorflow.python.framework import op_def_registry

    op_def = op_def_registry.get(op_name)
    return op_def is None or bool(op_def.is_stateful)

def is_refused(op_name: str) -> bool:
    """True for every op the worker does not accept: anything not on the allow-list
    (``allowlist.ALLOWED``). Reported as ``refused`` in GetOpRegistry."""
    return not is_allowed(op_name)


class OpRegistry:
    """TensorFlow's op definitions, as TensorFlow ``OpDef``s and as wire ``OpDef``s."""

    def __init__(self) -> None:
        buf = pywrap_tf_session.TF_GetAllOpList()
        op_list = op_def_pb2.OpList()
        op_list.ParseFromString(pywrap_tf_session.TF_GetBuffer(buf))
        self.tf_op_defs: dict[str, op_def_pb2.OpDef] = {o.name: o for o in op_list.op}
        self.tensorflow_version = tf.__version__
        # TF_GetAllOpList's order varies between processes: hash the ops sorted by name.
        ordered = op_def_pb2.OpList(op=sorted(op_list.op, key=lambda o: o.name))
        digest = hashlib.sha256(ordered.SerializeToString(deterministic=True)).hexdigest()
        self.fingerprint = f"tf-{tf.__version__}-{digest[:16]}"
        self._wire: dict[str, graph_pb2.OpDef] = {}

    def get(self, name: str) -> op_def_pb2.OpDef:
        """TensorFlow's OpDef for ``name``; InvalidArgument for an unknown op."""
        op_def = self.tf_op_defs.get(name)
        if op_def is None:
            raise errors.InvalidArgument(f"unknown op {name!r}: the worker's TensorFlow "
                                         f"{self.tensorflow_version} has no such op")
        return op_def

    def wire_op_def(self, name: str) -> graph_pb2.OpDef:
        """The wire OpDef for ``name`` (cached); InvalidArgument for an unknown op."""
        cached = self._wire.get(name)
        if cached is None:
            cached = _to_wire(self.get(name))
            self._wire[name] = cached
        return cached

    def response(self, names: list[str]) -> worker_pb2.GetOpRegistryResponse:
        """The GetOpRegistry answer for ``names`` (empty: every op)."""
        chosen = sorted(names) if names else sorted(self.tf_op_defs)
        reply = worker_pb2.GetOpRegistryResponse(
            tensorflow_version=self.tensorflow_version, registry_fingerprint=self.fingerprint)
        for name in chosen:
            reply.ops.append(self.wire_op_def(name))
        return reply


def _has_gradient(name: str) -> bool:
    try:
        return tf_ops._gradient_registry.lookup(name) is not None
    except LookupError:
        return False


def _docs(name: str) -> tuple[str, str]:
    """(summary, description) of an op from the docstring of ``tf.raw_ops.<name>``.

    TensorFlow's pip builds strip the documentation from OpDefs and ApiDefs; the generated
    Python bindings keep it. The description stops before the ``Args:`` section.
    """
    fn = getattr(tf.raw_ops, name, None)
    doc = getattr(fn, "__doc__", None) or ""
    if not doc.strip():
        return "", ""
    lines = doc.strip("\n").splitlines()
    summary = lines[0].strip()
    body: list[str] = []
    for line in lines[1:]:
        if line.strip() in ("Args:", "Returns:"):
            break
        body.append(line.removeprefix("  "))
    return summary, "\n".join(body).strip()


def _arg_to_wire(arg: op_def_pb2.OpDef.ArgDef) -> graph_pb2.ArgDef:
    return graph_pb2.ArgDef(
        name=arg.name, description=arg.description, type=int(arg.type),
        type_attr=arg.type_attr, number_attr=arg.number_attr,
        type_list_attr=arg.type_list_attr, is_ref=arg.is_ref)


def _to_wire(op: op_def_pb2.OpDef) -> graph_pb2.OpDef:
    summary, description = op.summary, op.description
    if not summary:
        summary, description = _docs(op.name)
    out = graph_pb2.OpDef(
        name=op.name, summary=summary, description=description,
        is_stateful=op.is_stateful, has_gradient=_has_gradient(op.name),
        refused=is_refused(op.name))
    out.inputs.extend(_arg_to_wire(a) for a in op.input_arg)
    out.outputs.extend(_arg_to_wire(a) for a in op.output_arg)
    for attr in op.attr:
        wire = graph_pb2.AttrDef(name=attr.name, type=attr.type, description=attr.description,
                                 has_minimum=attr.has_minimum, minimum=attr.minimum)
        if attr.HasField("default_value"):
            wire.default_value.CopyFrom(attr_from_tf(attr.default_value))
        if attr.HasField("allowed_values") and attr.allowed_values != attr_value_pb2.AttrValue():
            wire.allowed_values.CopyFrom(attr_from_tf(attr.allowed_values))
        out.attrs.append(wire)
    return out


@lru_cache(maxsize=1)
def op_registry() -> OpRegistry:
    """The process-wide registry (built once, ~40 ms)."""
    return OpRegistry()
