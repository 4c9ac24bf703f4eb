"""A session run (RunOp): feed placeholders, run target ops, fetch tensors, as one tf.function
(traced when the runner is made)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from gentf_server.core import distribute, errors
from gentf_server.core.graph import PLACEHOLDER, SessionGraph, parse_input
from gentf_server.core.importer import SubgraphImporter
from gentf_server.core.registry import READ_ONLY_OPS

__all__ = ["Runner"]

_CANNOT_FAIL = frozenset({"Const", "Identity", "NoOp", "ReadVariableOp", "VariableShape",
                          "VarIsInitializedOp"})
"""Ops that cannot fail on the worker's variables and checked feeds."""

_ATOMIC_WRITES = frozenset({"AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp"})
"""Writes that check everything before changing the variable: failing, they change nothing."""


class Runner:
    """One compiled (feeds, fetches, targets) signature; cached by the session."""

    def __init__(
        self,
        graph: SessionGraph,
        variables: dict[str, tf.Variable],
        feeds: Sequence[str],
        fetches: Sequence[str],
        targets: Sequence[str],
    ) -> None:
        self.feed_specs: list[tuple[str, tf.TensorSpec]] = []
        for name in feeds:
            node = graph.node(name, "feed")
            if node.op != PLACEHOLDER:
                raise errors.InvalidArgument(
                    f"feed {node.describe()} is a {node.op}; only placeholders can be fed")
            dtype, shape = node.outputs[0]
            self.feed_specs.append((name, tf.TensorSpec(shape, dtype)))
        for text in fetches:
            node, _, dtype, _ = graph.output(text, "fetch")
            if dtype in (tf.resource, tf.variant):
                raise errors.InvalidArgument(
                    f"fetch {text!r}: {node.describe()} yields a {dtype.name} handle, which has no "
                    f"value to return; fetch the variable's value instead")
        for name in targets:
            if parse_input(name) != (name, 0):
                raise errors.InvalidArgument(
                    f"target {name!r} is not an op name: targets name nodes to run (for example "
                    f"{parse_input(name)[0]!r}); fetch tensors with fetches")
            graph.node(name, "target")
        self._importer = SubgraphImporter(graph, variables, fetches, targets, list(feeds),
                                          f"run of {list(fetches) + list(targets)}")
        self.written = self._written_variables(graph, variables)
        ops = [node.op for node in self._importer.graph_def.node]
        self.atomic = (all(op in _CANNOT_FAIL or op in _ATOMIC_WRITES for op in ops)
                       and sum(op in _ATOMIC_WRITES for op in ops) <= 1)
        """Whether the run either fails having changed nothing or succeeds (at most one
        write, of a kind that checks before writing, and nothing else that can fail): it
        then needs no snapshot to undo it, so the variable it writes is written in place
        (no copy of its buffer, e.g. when a big value is fed into a variable)."""
        specs = [spec for _, spec in self.feed_specs]
        importer = self._importer
        # A closure per runner (not a bound method): tf.function counts retraces per
        # Python function, and every runner traces exactly once.
        self._run = tf.function(lambda *args: importer(args), input_signature=specs,
                                autograph=False).get_concrete_function()

    def _written_variables(self, graph: SessionGraph, variables: dict[str, tf.Variable]) -> list[tf.Variable]:
        """The variables an op of this run may write (every use but a plain read counts)."""
        mapped = set(self._importer.variable_nodes)
        written: set[str] = set()
        for node in self._importer.graph_def.node:
            if node.op in READ_ONLY_OPS:
                continue
            for text in node.input:
                name, index = parse_input(text)
                if index >= 0 and name in mapped:
                    written.add(name)
        return [variables[n] for n in sorted(written)]

    def build(self, feed_values: Sequence[Any]) -> list[Any]:
        """The run's graph, built into the function being traced (for a fused call);
        returns the fetched tensors."""
        return self._importer(feed_values)

    def __call__(self, feed_values: Sequence[Any]) -> list[Any]:
        """Runs once with the feed values in ``feeds`` order; returns fetched tensors."""
        out = distribute.call(self._run, feed_values)
        return [] if out is None else list(out)
