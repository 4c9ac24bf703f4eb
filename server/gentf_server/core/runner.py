"""A session run (RunOp): feed placeholders, run target ops, fetch tensors, as one tf.function."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from gentf_server.core import errors
from gentf_server.core.graph import PLACEHOLDER, SessionGraph, parse_input
from gentf_server.core.importer import SubgraphImporter

__all__ = ["Runner"]


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
            graph.node(parse_input(name)[0], "target")
        self._importer = SubgraphImporter(graph, variables, fetches, targets, list(feeds),
                                          f"run of {list(fetches) + list(targets)}")
        specs = [spec for _, spec in self.feed_specs]
        importer = self._importer
        # A closure per runner (not a bound method): tf.function counts retraces per
        # Python function, and every runner traces exactly once.
        self._run = tf.function(lambda *args: importer(args), input_signature=specs,
                                autograph=False)

    def __call__(self, feed_values: Sequence[Any]) -> list[Any]:
        """Runs once with the feed values in ``feeds`` order; returns fetched tensors."""
        return list(self._run(*feed_values))
