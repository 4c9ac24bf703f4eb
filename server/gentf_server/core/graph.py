"""A session's graph: the nodes clients added, validated by TensorFlow, growing only.

Nodes arrive as wire NodeDefs. A batch is accepted whole or not at all: every op is first
checked against the allow-list (``allowlist``), then names, attributes, inputs, cycles and
the session's limits (node count, bytes, depth, variable bytes); then TensorFlow imports the
whole graph into a scratch ``tf.Graph`` (shape and type inference), after which resource
inputs and static output sizes are checked; only when all of that succeeds is the batch
committed. Execution never uses the scratch graph: compiled functions import the
subgraph they need (see ``importer``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf
from gentf.v1 import graph_pb2
from gentf.wire import decode_tensor
from tensorflow.core.framework import graph_pb2 as tf_graph_pb2
from tensorflow.core.framework import node_def_pb2

from gentf_server.core import errors
from gentf_server.core.allowlist import (
    check_attrs,
    check_input_ranks,
    check_resource_inputs,
    is_allowed,
)
from gentf_server.core.convert import attr_to_tf, node_to_tf
from gentf_server.core.limits import SessionLimits, over_limit
from gentf_server.core.registry import OpRegistry

__all__ = ["GraphNode", "SessionGraph", "parse_input", "tensor_name"]

PLACEHOLDER = "Placeholder"
VARIABLE = "VarHandleOp"
_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*$")
_TF_NODE_IN_MESSAGE = re.compile(r"\{\{node ([^}]+)\}\}|[Nn]ode '([^']+)'|node ([A-Za-z0-9_.\-/>]+)")


def parse_input(text: str) -> tuple[str, int]:
    """``"x"`` -> ("x", 0); ``"x:2"`` -> ("x", 2); ``"^x"`` -> ("x", -1) (control input)."""
    if text.startswith("^"):
        return text[1:], -1
    name, sep, index = text.rpartition(":")
    if sep and index.isdigit():
        return name, int(index)
    return text, 0


def tensor_name(text: str) -> str:
    """Canonical tensor name: ``"x"`` -> ``"x:0"``."""
    name, index = parse_input(text)
    return f"{name}:{index}"


@dataclass
class GraphNode:
    """One accepted node: its wire form, TensorFlow form and inferred outputs."""

    wire: graph_pb2.NodeDef
    tf_def: node_def_pb2.NodeDef
    outputs: list[tuple[tf.DType, tf.TensorShape]] = field(default_factory=list)
    initial_value: np.ndarray[Any, Any] | None = None
    initial_digest: bytes = b""

    def same_as(self, wire: graph_pb2.NodeDef) -> bool:
        """True when ``wire`` is this node's definition (a variable node keeps only a digest
        of its initial value, so that the worker holds that memory once: in the variable)."""
        if not self.initial_digest and not wire.HasField("initial_value"):
            return self.wire == wire
        if not wire.HasField("initial_value"):
            return False
        stripped = graph_pb2.NodeDef()
        stripped.CopyFrom(wire)
        stripped.ClearField("initial_value")
        return self.wire == stripped and _digest(wire.initial_value) == self.initial_digest

    def drop_initial_value(self) -> None:
        """Forgets the initial value once the variable holds it (its digest stays)."""
        self.initial_value = None

    @property
    def name(self) -> str:
        return self.wire.name

    @property
    def op(self) -> str:
        return self.wire.op

    def describe(self) -> str:
        """``node 'x' (created at model.py:12)`` for error messages."""
        where = f" (created at {self.wire.source})" if self.wire.source else ""
        return f"node {self.wire.name!r}{where}"


@dataclass
class ExtendPlan:
    """A validated batch, ready to commit."""

    new_nodes: list[GraphNode]
    requested: list[str]
    depths: dict[str, int] = field(default_factory=dict)
    graph_bytes: int = 0
    variable_bytes: int = 0


class SessionGraph:
    """The nodes of one session, in a topological order (every input before its user)."""

    def __init__(self, registry: OpRegistry, limits: SessionLimits | None = None) -> None:
        self._registry = registry
        self._limits = limits or SessionLimits()
        self.nodes: dict[str, GraphNode] = {}
        self._depth: dict[str, int] = {}
        self.graph_bytes = 0
        """Serialized size of the accepted node definitions."""
        self.variable_bytes = 0
        """Bytes of the accepted variables' initial values (their size on the worker)."""
        self._graph_def = tf_graph_pb2.GraphDef()
        # Without versions, TensorFlow applies legacy (producer 0) semantics: a scalar
        # placeholder's shape would be inferred as unknown and accept any shape.
        self._graph_def.versions.producer = tf.version.GRAPH_DEF_VERSION
        self._graph_def.versions.min_consumer = tf.version.GRAPH_DEF_VERSION_MIN_CONSUMER

    # ---- lookups -----------------------------------------------------------------------

    def node(self, name: str, what: str = "node") -> GraphNode:
        """The node called ``name``; InvalidArgument naming ``what`` if there is none."""
        found = self.nodes.get(name)
        if found is None:
            raise errors.InvalidArgument(f"{what} {name!r}: no node of that name in the session's graph")
        return found

    def output(self, text: str, what: str) -> tuple[GraphNode, int, tf.DType, tf.TensorShape]:
        """Resolves a tensor name ``"x"``/``"x:k"`` to its node, index, dtype and static shape."""
        name, index = parse_input(text)
        node = self.node(name, what)
        if index < 0 or index >= len(node.outputs):
            raise errors.InvalidArgument(
                f"{what} {text!r}: {node.describe()} has {len(node.outputs)} output(s)")
        dtype, shape = node.outputs[index]
        return node, index, dtype, shape

    def ancestors(self, names: list[str]) -> list[str]:
        """Names of the given nodes and everything they depend on, in topological order."""
        seen: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            for text in self.nodes[name].wire.inputs:
                stack.append(parse_input(text)[0])
        return [n for n in self.nodes if n in seen]

    def subgraph_def(self, names: list[str], mapped: set[str]) -> tf_graph_pb2.GraphDef:
        """GraphDef of ``names`` minus the ``mapped`` nodes; control inputs on mapped nodes dropped."""
        out = tf_graph_pb2.GraphDef()
        out.versions.CopyFrom(self._graph_def.versions)
        for name in names:
            if name in mapped:
                continue
            node = out.node.add()
            node.CopyFrom(self.nodes[name].tf_def)
            if any(i.startswith("^") and i[1:] in mapped for i in node.input):
                kept = [i for i in node.input if not (i.startswith("^") and i[1:] in mapped)]
                del node.input[:]
                node.input.extend(kept)
        return out

    # ---- growth ------------------------------------------------------------------------

    def plan_extend(self, nodes: list[graph_pb2.NodeDef]) -> ExtendPlan:
        """Validates a batch of new nodes without changing the graph.

        Raises InvalidArgument, AlreadyExists or PermissionDenied naming the node at fault.
        """
        for wire in nodes:  # the allow-list comes before any other check
            self._check_allowed(wire)
        batch: dict[str, graph_pb2.NodeDef] = {}
        requested: list[str] = []
        for wire in nodes:
            requested.append(wire.name)
            if not _NAME.match(wire.name):
                raise errors.InvalidArgument(f"node name {wire.name!r} is not a valid TensorFlow node name")
            if wire.name in batch:
                if batch[wire.name] != wire:
                    raise errors.InvalidArgument(f"node {wire.name!r} appears twice in one request")
                continue
            existing = self.nodes.get(wire.name)
            if existing is not None:
                if not existing.same_as(wire):
                    raise errors.AlreadyExists(
                        f"{existing.describe()} already exists with a different definition")
                continue
            batch[wire.name] = wire
        limits = self._limits
        total = len(self.nodes) + len(batch)
        if total > limits.max_graph_nodes:
            raise over_limit("the session's graph", total, limits.max_graph_nodes,
                             "--max-graph-nodes", "nodes")
        ordered = _topological(batch)
        depths = self._depths(ordered)
        deepest = max(depths.values(), default=0)
        if deepest > limits.max_graph_depth:
            name = max(depths, key=lambda n: depths[n])
            raise over_limit(f"the input chain ending at node {name!r}", deepest,
                             limits.max_graph_depth, "--max-graph-depth", "nodes deep")
        new_nodes = [self._check_node(wire, batch) for wire in ordered]
        graph_bytes = self.graph_bytes + sum(n.tf_def.ByteSize() for n in new_nodes)
        if graph_bytes > limits.max_graph_bytes:
            raise over_limit("the session's graph", graph_bytes, limits.max_graph_bytes,
                             "--max-graph-mb", "MiB")
        variable_bytes = self.variable_bytes + sum(
            int(n.initial_value.nbytes) for n in new_nodes if n.initial_value is not None)
        if variable_bytes > limits.max_variable_bytes:
            raise over_limit("the session's variables", variable_bytes,
                             limits.max_variable_bytes, "--max-variable-mb", "MiB")
        scratch = self._import_scratch(new_nodes)
        for node in new_nodes:
            op = scratch.get_operation_by_name(node.name)
            check_resource_inputs(op, node.describe())
            check_input_ranks(op, node.describe())
            node.outputs = [(t.dtype, t.shape) for t in op.outputs]
            for index, (dtype, shape) in enumerate(node.outputs):
                self._check_static_size(node, index, dtype, shape)
        return ExtendPlan(new_nodes, requested, depths, graph_bytes, variable_bytes)

    def _check_allowed(self, wire: graph_pb2.NodeDef) -> None:
        if wire.op in self._registry.tf_op_defs and not is_allowed(wire.op):
            where = f" (created at {wire.source})" if wire.source else ""
            raise errors.PermissionDenied(
                f"node {wire.name!r}{where}: op {wire.op!r} is refused: it is not on this worker's allow-list "
                f"(only model computations are accepted: math, nn, array, random, linalg, "
                f"variables, optimizers; nothing that reaches files, processes, threads, the "
                f"network or other sessions)")

    def _depths(self, ordered: list[graph_pb2.NodeDef]) -> dict[str, int]:
        """Longest input chain (in nodes) ending at each new node; inputs come first."""
        depths: dict[str, int] = {}
        for wire in ordered:
            deepest = 0
            for text in wire.inputs:
                name = parse_input(text)[0]
                deepest = max(deepest, depths.get(name) or self._depth.get(name, 0))
            depths[wire.name] = deepest + 1
        return depths

    def _check_static_size(self, node: GraphNode, index: int, dtype: tf.DType,
                           shape: tf.TensorShape) -> None:
        if not shape.is_fully_defined() or dtype in (tf.string, tf.resource, tf.variant):
            return
        elements = 1
        for d in shape.as_list():
            elements *= int(d)
        nbytes = elements * dtype.size
        if nbytes > self._limits.max_tensor_bytes:
            raise over_limit(f"output {index} of {node.describe()} ({dtype.name} {shape})",
                             nbytes, self._limits.max_tensor_bytes, "--max-tensor-mb", "MiB")

    def commit(self, plan: ExtendPlan) -> None:
        """Adds a validated batch (no checks, cannot fail)."""
        for node in plan.new_nodes:
            self.nodes[node.name] = node
            self._graph_def.node.append(node.tf_def)
            if node.op == VARIABLE:
                node.drop_initial_value()
        self._depth.update(plan.depths)
        self.graph_bytes = plan.graph_bytes
        self.variable_bytes = plan.variable_bytes

    def _check_node(self, wire: graph_pb2.NodeDef, batch: dict[str, graph_pb2.NodeDef]) -> GraphNode:
        where = f" (created at {wire.source})" if wire.source else ""
        desc = f"node {wire.name!r}{where}"
        try:
            op_def = self._registry.get(wire.op)
        except errors.InvalidArgument as exc:
            raise errors.InvalidArgument(f"{desc}: {exc.message}") from None
        known = {a.name for a in op_def.attr}
        for key in wire.attrs:
            if key not in known:
                raise errors.InvalidArgument(
                    f"{desc}: op {wire.op!r} has no attribute {key!r} (it has: {sorted(known)})")
        seen_control = False
        for text in wire.inputs:
            name, index = parse_input(text)
            if index < 0:
                seen_control = True
            elif seen_control:
                raise errors.InvalidArgument(f"{desc}: data input {text!r} after a control input")
            if name not in self.nodes and name not in batch:
                raise errors.InvalidArgument(f"{desc}: input {text!r} names no node in the graph")
        try:
            tf_def = node_to_tf(wire)
        except (ValueError, TypeError) as exc:
            raise errors.InvalidArgument(f"{desc}: bad attribute value: {exc}") from None
        check_attrs(tf_def, desc)
        initial = None
        if wire.op == VARIABLE and wire.HasField("initial_value"):
            initial = self._check_variable(wire, desc)
        elif wire.op == VARIABLE:  # created as zeros; the client runs its initializer op
            shape = tf.TensorShape(tf_def.attr["shape"].shape) if "shape" in tf_def.attr else None
            if shape is None or not shape.is_fully_defined() or "dtype" not in tf_def.attr:
                raise errors.InvalidArgument(
                    f"{desc}: a variable without an initial value needs a dtype and a fully "
                    f"defined shape")
        # A copy: a reference into the request would keep the whole request alive.
        stored = graph_pb2.NodeDef()
        stored.CopyFrom(wire)
        digest = b""
        if stored.HasField("initial_value"):
            digest = _digest(stored.initial_value)
            stored.ClearField("initial_value")
        return GraphNode(wire=stored, tf_def=tf_def, initial_value=initial, initial_digest=digest)

    def _check_variable(self, wire: graph_pb2.NodeDef, desc: str) -> np.ndarray[Any, Any]:
        if not wire.HasField("initial_value"):
            raise errors.InvalidArgument(f"{desc}: a variable needs an initial value")
        try:
            value = decode_tensor(wire.initial_value)
        except ValueError as exc:
            raise errors.InvalidArgument(f"{desc}: initial value: {exc}") from None
        dtype = tf.as_dtype(attr_to_tf(wire.attrs["dtype"]).type) if "dtype" in wire.attrs else None
        if dtype is None or tf.as_dtype(int(wire.initial_value.dtype)) != dtype:
            raise errors.InvalidArgument(
                f"{desc}: initial value dtype {tf.as_dtype(int(wire.initial_value.dtype)).name} "
                f"does not match the variable's dtype {dtype.name if dtype else '(unset)'}")
        if "shape" in wire.attrs:
            declared = tf.TensorShape(attr_to_tf(wire.attrs["shape"]).shape)
            if not declared.is_compatible_with(value.shape):
                raise errors.InvalidArgument(
                    f"{desc}: initial value of shape {list(value.shape)} does not match the "
                    f"variable's shape {declared}")
        return value

    def _import_scratch(self, new_nodes: list[GraphNode]) -> tf.Graph:
        full = tf_graph_pb2.GraphDef()
        full.CopyFrom(self._graph_def)
        full.node.extend(n.tf_def for n in new_nodes)
        scratch = tf.Graph()
        try:
            with scratch.as_default():
                tf.graph_util.import_graph_def(full, name="")
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise errors.InvalidArgument(self._explain(str(exc), new_nodes)) from None
        return scratch

    def _explain(self, message: str, new_nodes: list[GraphNode]) -> str:
        by_name = {n.name: n for n in new_nodes}
        for match in _TF_NODE_IN_MESSAGE.finditer(message):
            name = next(g for g in match.groups() if g)
            node = by_name.get(name) or self.nodes.get(name)
            if node is not None:
                return f"{node.describe()}: {message.strip()}"
        return message.strip()


def _digest(tensor: Any) -> bytes:
    return hashlib.sha256(tensor.SerializeToString(deterministic=True)).digest()


def _topological(batch: dict[str, graph_pb2.NodeDef]) -> list[graph_pb2.NodeDef]:
    """Kahn's order over the batch; InvalidArgument listing the nodes on a cycle."""
    deps = {name: {parse_input(i)[0] for i in wire.inputs} & batch.keys() for name, wire in batch.items()}
    users: dict[str, list[str]] = {name: [] for name in batch}
    for name, ds in deps.items():
        for d in ds:
            users[d].append(name)
    remaining = {name: len(ds) for name, ds in deps.items()}
    ready = [name for name in batch if remaining[name] == 0]
    order: list[str] = []
    while ready:
        name = ready.pop()
        order.append(name)
        for user in users[name]:
            remaining[user] -= 1
            if remaining[user] == 0:
                ready.append(user)
    if len(order) != len(batch):
        cyclic = sorted(n for n in batch if remaining[n] > 0)
        raise errors.InvalidArgument(f"the new nodes form a cycle through {cyclic}")
    return [batch[name] for name in order]
