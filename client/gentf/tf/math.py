"""``gentf.tf.math``: elementwise math and reductions."""

from gentf.graph._ops import (
    abs,
    add,
    divide,
    exp,
    log,
    maximum,
    minimum,
    multiply,
    negative,
    pow,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    sigmoid,
    sqrt,
    square,
    subtract,
    tanh,
)

__all__ = [
    "abs", "add", "divide", "exp", "log", "maximum", "minimum", "multiply", "negative", "pow",
    "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "sigmoid", "sqrt",
    "square", "subtract", "tanh",
]
