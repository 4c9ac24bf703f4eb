"""``from gentf import tf``: TensorFlow's graph API by TensorFlow's names, without TensorFlow.

``gentf.tf`` is the ``tf.compat.v1`` graph API (and ``gentf.tf.compat.v1`` is this same
module): placeholders, variables (any initial value: tensors are computed on the worker),
ops, ``tf.Session``/``tf.InteractiveSession``, ``Tensor.eval``, ``control_dependencies``,
``variable_scope``/``get_variable``, ``tf.gradients`` and optimizers' ``minimize`` (built by
the worker with TensorFlow's own gradient registry), ``tf.losses``. Shapes and dtypes of
common ops are checked as the graph is built, at the line that builds the node.
Namespaces: ``tf.math``, ``tf.nn``, ``tf.linalg``, ``tf.random``, ``tf.initializers``,
``tf.train``. Every op the worker's TensorFlow registers is reachable as
``tf.raw_ops.<OpName>(...)`` (keyword arguments) and ``tf.ops.<snake_name>(...)``
(positional inputs); ``tf.import_op(name)`` fetches an op the client has never seen.
``with tf.auto_name():`` names nodes after the Python variables they are assigned to.
"""

import builtins
from typing import Any

from gentf.graph import _operators  # noqa: F401  (Tensor operators)
from gentf.graph._apply import constant, convert_to_tensor
from gentf.graph._array_ops import (
    boolean_mask,
    broadcast_to,
    clip_by_value,
    einsum,
    eye,
    gather,
    gather_nd,
    is_tensor,
    linspace,
    one_hot,
    pad,
    range,
    reverse,
    scatter_nd,
    size,
    slice,
    split,
    stack,
    strided_slice,
    tensor_scatter_nd_update,
    tile,
    unstack,
    where,
)
from gentf.graph._autoname import auto_name
from gentf.graph._core import Graph, Operation, Tensor, get_default_graph, reset_default_graph
from gentf.graph._gradients import gradients
from gentf.graph._init_ops import (
    Constant as constant_initializer,
)
from gentf.graph._init_ops import (
    GlorotNormal as glorot_normal_initializer,
)
from gentf.graph._init_ops import (
    GlorotUniform as glorot_uniform_initializer,
)
from gentf.graph._init_ops import (
    Ones as ones_initializer,
)
from gentf.graph._init_ops import (
    RandomNormal as random_normal_initializer,
)
from gentf.graph._init_ops import (
    RandomUniform as random_uniform_initializer,
)
from gentf.graph._init_ops import (
    TruncatedNormal as truncated_normal_initializer,
)
from gentf.graph._init_ops import (
    Zeros as zeros_initializer,
)
from gentf.graph._init_ops import random_normal, random_uniform, truncated_normal
from gentf.graph._linalg_ops import norm
from gentf.graph._math_ops import (
    add_n,
    cos,
    cumsum,
    equal,
    floor,
    floordiv,
    greater,
    greater_equal,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    not_equal,
    round,
    sign,
    sin,
    squared_difference,
    truediv,
)
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
from gentf.graph._raw_ops import GeneratedOps, RawOps, import_op
from gentf.graph._shapes import ShapeMismatchError
from gentf.graph._variables import (
    AUTO_REUSE,
    Variable,
    VariableScope,
    assign,
    assign_add,
    assign_sub,
    get_variable,
    get_variable_scope,
    global_variables,
    trainable_variables,
    variable_scope,
)
from gentf.remote._session import InteractiveSession, Session, get_default_session
from gentf.tf import initializers, linalg, losses, math, nn, random, train
from gentf.tf._v1 import (
    argmax,
    argmin,
    global_variables_initializer,
    initialize_all_variables,
    local_variables_initializer,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    set_random_seed,
    to_double,
    to_float,
    to_int32,
    to_int64,
    variables_initializer,
)
from gentf.wire._dtypes import DTYPES, DType, as_dtype

raw_ops = RawOps()
"""Every registered op by name: ``tf.raw_ops.MatMul(a=..., b=...)``."""

ops = GeneratedOps()
"""Every registered op by TensorFlow's Python name: ``tf.ops.mat_mul(a, b, transpose_b=True)``."""

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
bool = DTYPES["bool"]
string = DTYPES["string"]
complex64 = DTYPES["complex64"]
complex128 = DTYPES["complex128"]
resource = DTYPES["resource"]
half = float16
double = float64


def name_scope(name: str, default_name: str | None = None, values: Any = None):  # type: ignore[no-untyped-def]
    """``with tf.name_scope("layer1"):`` prefixes node names in the default graph."""
    return get_default_graph().name_scope(name or default_name or "scope")


def control_dependencies(control_inputs: Any):  # type: ignore[no-untyped-def]
    """``with tf.control_dependencies([a, b]):`` operations built inside run after ``a`` and
    ``b`` (operations, tensors or variables); ``None`` clears enclosing dependencies."""
    return get_default_graph().control_dependencies(control_inputs)


def disable_eager_execution() -> None:
    """Accepted so TensorFlow 1 programs run unchanged: gentf.tf always builds graphs."""


def disable_v2_behavior() -> None:
    """Accepted so TensorFlow 1 programs run unchanged: gentf.tf is the v1 API already."""


def executing_eagerly() -> builtins.bool:
    """False: gentf.tf builds graphs that a session runs."""
    return False


div = divide
"""``tf.div(x, y)``: TensorFlow 1's name of :func:`divide`."""

from gentf.tf import compat

__all__ = [
    "AUTO_REUSE",
    "DType",
    "Graph",
    "InteractiveSession",
    "Operation",
    "Session",
    "ShapeMismatchError",
    "Tensor",
    "Variable",
    "VariableScope",
    "abs",
    "add",
    "add_n",
    "argmax",
    "argmin",
    "as_dtype",
    "assign",
    "assign_add",
    "assign_sub",
    "auto_name",
    "bfloat16",
    "bool",
    "boolean_mask",
    "broadcast_to",
    "cast",
    "clip_by_value",
    "compat",
    "complex64",
    "complex128",
    "concat",
    "constant",
    "constant_initializer",
    "control_dependencies",
    "convert_to_tensor",
    "cos",
    "cumsum",
    "disable_eager_execution",
    "disable_v2_behavior",
    "div",
    "divide",
    "double",
    "einsum",
    "equal",
    "executing_eagerly",
    "exp",
    "expand_dims",
    "eye",
    "fill",
    "float16",
    "float32",
    "float64",
    "floor",
    "floordiv",
    "gather",
    "gather_nd",
    "get_default_graph",
    "get_default_session",
    "get_variable",
    "get_variable_scope",
    "global_variables",
    "global_variables_initializer",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "gradients",
    "greater",
    "greater_equal",
    "group",
    "half",
    "identity",
    "import_op",
    "initialize_all_variables",
    "initializers",
    "int8",
    "int16",
    "int32",
    "int64",
    "is_tensor",
    "less",
    "less_equal",
    "linalg",
    "linspace",
    "local_variables_initializer",
    "log",
    "logical_and",
    "logical_not",
    "logical_or",
    "losses",
    "math",
    "matmul",
    "maximum",
    "minimum",
    "multiply",
    "name_scope",
    "negative",
    "nn",
    "no_op",
    "norm",
    "not_equal",
    "one_hot",
    "ones",
    "ones_initializer",
    "ones_like",
    "ops",
    "pad",
    "placeholder",
    "pow",
    "random",
    "random_normal",
    "random_normal_initializer",
    "random_uniform",
    "random_uniform_initializer",
    "range",
    "rank",
    "raw_ops",
    "reduce_all",
    "reduce_any",
    "reduce_logsumexp",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_sum",
    "relu",
    "reset_default_graph",
    "reshape",
    "resource",
    "reverse",
    "round",
    "scatter_nd",
    "set_random_seed",
    "shape",
    "sigmoid",
    "sign",
    "sin",
    "size",
    "slice",
    "split",
    "sqrt",
    "square",
    "squared_difference",
    "squeeze",
    "stack",
    "stop_gradient",
    "strided_slice",
    "string",
    "subtract",
    "tanh",
    "tensor_scatter_nd_update",
    "tile",
    "to_double",
    "to_float",
    "to_int32",
    "to_int64",
    "train",
    "trainable_variables",
    "transpose",
    "truediv",
    "truncated_normal",
    "truncated_normal_initializer",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "unstack",
    "variable_scope",
    "variables_initializer",
    "where",
    "zeros",
    "zeros_initializer",
    "zeros_like",
]

from gentf.tf import summary  # noqa: F401  (tf.summary: TensorBoard)
