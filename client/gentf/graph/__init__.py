"""The TensorFlow-free graph builder behind ``gentf.tf``."""

from gentf.graph import _operators  # noqa: F401  (installs Tensor operators)
from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import Graph, Operation, Tensor, get_default_graph, reset_default_graph
from gentf.graph._registry import OpRegistry, registry
from gentf.graph._variables import Variable

__all__ = [
    "Graph",
    "OpRegistry",
    "Operation",
    "Tensor",
    "Variable",
    "apply_op",
    "constant",
    "convert_to_tensor",
    "get_default_graph",
    "registry",
    "reset_default_graph",
]
