"""``gentf.tf.math``: elementwise math, comparisons, logical ops, reductions and scans."""

from gentf.graph._math_ops import (
    acos, acosh, add_n, argmax, argmin, asin, asinh, atan, atan2, atanh, ceil, cos, cosh,
    count_nonzero, cumprod, cumsum, digamma, divide_no_nan, equal, erf, erfc, expm1, floor,
    floordiv, floormod, greater, greater_equal, is_finite, is_inf, is_nan, less, less_equal,
    lgamma, log1p, log_sigmoid, logical_and, logical_not, logical_or, logical_xor, mod,
    not_equal, reciprocal, reduce_all, reduce_any, reduce_euclidean_norm, reduce_logsumexp,
    reduce_std, reduce_variance, round, rsqrt, sign, sin, sinh, softplus, softsign,
    squared_difference, tan, top_k, truediv, xdivy, xlogy,
)
from gentf.graph._nn_ops import l2_normalize
from gentf.graph._ops import (
    abs, add, divide, exp, log, maximum, minimum, multiply, negative, pow, reduce_max,
    reduce_mean, reduce_min, reduce_prod, reduce_sum, sigmoid, sqrt, square, subtract, tanh,
)

__all__ = [
    "abs", "acos", "acosh", "add", "add_n", "argmax", "argmin", "asin", "asinh", "atan",
    "atan2", "atanh", "ceil", "cos", "cosh", "count_nonzero", "cumprod", "cumsum", "digamma",
    "divide", "divide_no_nan", "equal", "erf", "erfc", "exp", "expm1", "floor", "floordiv",
    "floormod", "greater", "greater_equal", "is_finite", "is_inf", "is_nan", "l2_normalize",
    "less", "less_equal", "lgamma", "log", "log1p", "log_sigmoid", "logical_and",
    "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod", "multiply",
    "negative", "not_equal", "pow", "reciprocal", "reduce_all", "reduce_any",
    "reduce_euclidean_norm", "reduce_logsumexp", "reduce_max", "reduce_mean", "reduce_min",
    "reduce_prod", "reduce_std", "reduce_sum", "reduce_variance", "round", "rsqrt", "sigmoid",
    "sign", "sin", "sinh", "softplus", "softsign", "sqrt", "square", "squared_difference",
    "subtract", "tan", "tanh", "top_k", "truediv", "xdivy", "xlogy",
]
