"""``from gentf import tf``: TensorFlow's graph API by TensorFlow's names, without TensorFlow.

Build a graph as with ``tf.compat.v1``: placeholders, variables, ops, ``tf.Session``;
``tf.raw_ops.<OpName>(...)`` reaches every op the worker's TensorFlow registers.
"""

from gentf.graph import _operators  # noqa: F401  (Tensor operators)
from gentf.graph._apply import constant, convert_to_tensor
from gentf.graph._core import Graph, Operation, Tensor, get_default_graph, reset_default_graph
from gentf.graph._ops import (
    abs,
    add,
    cast,
    concat,
    divide,
    exp,
    expand_dims,
    fill,
    group,
    identity,
    log,
    matmul,
    maximum,
    minimum,
    multiply,
    negative,
    no_op,
    ones,
    ones_like,
    placeholder,
    pow,
    rank,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    relu,
    reshape,
    shape,
    sigmoid,
    sqrt,
    square,
    squeeze,
    stop_gradient,
    subtract,
    tanh,
    transpose,
    zeros,
    zeros_like,
)
from gentf.graph._raw_ops import RawOps
from gentf.graph._variables import (
    Variable,
    assign,
    assign_add,
    assign_sub,
    get_variable,
    global_variables,
    trainable_variables,
)
from gentf.remote._session import Session, get_default_session
from gentf.tf import math, nn, train
from gentf.wire._dtypes import DTYPES, DType, as_dtype

raw_ops = RawOps()
"""Every registered op by name: ``tf.raw_ops.MatMul(a=..., b=...)``."""

float16 = DTYPES["float16"]
float32 = DTYPES["float32"]
float64 = DTYPES["float64"]
bfloat16 = DTYPES["bfloat16"]
int8 = DTYPES["int8"]
int16 = DTYPES["int16"]
int32 = DTYPES["int32"]
int64 = DTYPES["int64"]
uint8 = DTYPES["uint8"]
uint16 = DTYPES["uint16"]
uint32 = DTYPES["uint32"]
uint64 = DTYPES["uint64"]
bool = DTYPES["bool"]  # noqa: A001
string = DTYPES["string"]
complex64 = DTYPES["complex64"]
complex128 = DTYPES["complex128"]
resource = DTYPES["resource"]
half = float16
double = float64


def name_scope(name: str):  # type: ignore[no-untyped-def]
    """``with tf.name_scope("layer1"):`` prefixes node names in the default graph."""
    return get_default_graph().name_scope(name)


def global_variables_initializer() -> Operation:
    """An operation that sets every Variable of the default graph to its initial value.

    Variables start at their initial values anyway; this re-initialises them.
    """
    ops = [apply_op_assign(v) for v in global_variables()]
    return group(*ops, name="init")


def apply_op_assign(v: Variable) -> Operation:
    """``AssignVariableOp(v, initial value)`` (used by global_variables_initializer)."""
    from gentf.graph._apply import apply_op

    return apply_op("AssignVariableOp", [v.handle, constant(v.initial_value, dtype=v.dtype)],
                    {"dtype": v.dtype})


__all__ = [
    "DType", "Graph", "Operation", "Session", "Tensor", "Variable", "abs", "add", "as_dtype",
    "assign", "assign_add", "assign_sub", "bfloat16", "bool", "cast", "complex128", "complex64",
    "concat", "constant", "convert_to_tensor", "divide", "double", "exp", "expand_dims", "fill",
    "float16", "float32", "float64", "get_default_graph", "get_default_session", "get_variable",
    "global_variables", "global_variables_initializer", "group", "half", "identity", "int16",
    "int32", "int64", "int8", "log", "math", "matmul", "maximum", "minimum", "multiply",
    "name_scope", "negative", "nn", "no_op", "ones", "ones_like", "placeholder", "pow", "rank",
    "raw_ops", "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "relu",
    "reset_default_graph", "reshape", "resource", "shape", "sigmoid", "sqrt", "square",
    "squeeze", "stop_gradient", "string", "subtract", "tanh", "train", "trainable_variables",
    "transpose", "uint16", "uint32", "uint64", "uint8", "zeros", "zeros_like",
]
