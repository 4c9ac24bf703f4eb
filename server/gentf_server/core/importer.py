"""Importing a subgraph of a session's graph into a TensorFlow function being traced.

Placeholders become the function's arguments and variable nodes become the captured
handles of the session's ``tf.Variable``s, so reads, assignments and optimizer ops act on
the real variables, and ``tf.gradients`` with respect to a handle is the gradient with
respect to the variable's value.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from gentf_server.core import distribute, errors
from gentf_server.core.graph import PLACEHOLDER, VARIABLE, SessionGraph, parse_input, tensor_name
from gentf_server.core.out_of_place import gradient_descent_out_of_place

__all__ = ["SubgraphImporter"]


class _DropRetracingWarnings(logging.Filter):
    """Each compiled function and run signature is traced once, by design; TensorFlow's
    frequent-retracing heuristic counts traces per code object and would warn anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_DropRetracingWarnings())


class SubgraphImporter:
    """Imports what ``fetches`` and ``targets`` need, with ``arguments`` as the fed placeholders.

    Raises InvalidArgument when a needed placeholder is not among the arguments.
    """

    def __init__(
        self,
        graph: SessionGraph,
        variables: dict[str, tf.Variable],
        fetches: Sequence[str],
        targets: Sequence[str],
        arguments: Sequence[str],
        what: str,
    ) -> None:
        self.fetches = [tensor_name(f) for f in fetches]
        self.targets = list(targets)
        self.arguments = list(arguments)
        roots = [parse_input(f)[0] for f in self.fetches] + self.targets
        needed = graph.ancestors(roots)
        self.placeholders = [n for n in needed if graph.nodes[n].op == PLACEHOLDER]
        missing = [n for n in self.placeholders if n not in self.arguments]
        if missing:
            node = graph.nodes[missing[0]]
            raise errors.InvalidArgument(
                f"{what} depends on placeholder {node.describe()[5:]}, which is not "
                f"{'fed' if what.startswith('run') else 'an input of the function'}")
        self.variable_nodes = [n for n in needed if graph.nodes[n].op == VARIABLE]
        self._variables = {n: variables[n] for n in self.variable_nodes}
        mapped = set(self.placeholders) | set(self.variable_nodes)
        self.graph_def = graph.subgraph_def(needed, mapped)
        if distribute.coordinator() is None:  # values are kept to undo: no in-place step
            self.graph_def = gradient_descent_out_of_place(self.graph_def)
        referenced: set[str] = set()
        for node in self.graph_def.node:
            for text in node.input:
                name, index = parse_input(text)
                if index >= 0 and name in mapped:
                    referenced.add(f"{name}:{index}")
        self._referenced = sorted(referenced)
        imported = {n.name for n in self.graph_def.node}
        self._return_fetches = [f for f in self.fetches if parse_input(f)[0] in imported]
        self._return_targets = [t for t in self.targets if t in imported]

    def handle(self, node_name: str) -> Any:
        """The captured handle of a variable node, inside the function being traced."""
        return tf.compat.v1.get_default_graph().capture(self._variables[node_name].handle)

    def __call__(self, args: Sequence[Any]) -> list[Any]:
        """Imports the subgraph (call while tracing); returns the fetched tensors in order."""
        by_name = dict(zip(self.arguments, args))
        mapped: dict[str, Any] = {}
        for key in self._referenced:
            name, _ = parse_input(key)
            mapped[key] = self.handle(name) if name in self._variables else by_name[name]
        results: dict[str, Any] = {}
        if self.graph_def.node:
            out = tf.graph_util.import_graph_def(
                self.graph_def, input_map=mapped,
                return_elements=self._return_fetches + self._return_targets, name="g")
            results = dict(zip(self._return_fetches, out[: len(self._return_fetches)]))
        fetched = []
        for f in self.fetches:
            if f in results:
                fetched.append(results[f])
            else:
                name, _ = parse_input(f)
                fetched.append(self.handle(name) if name in self._variables else by_name[name])
        return fetched
