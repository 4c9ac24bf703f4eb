"""TensorFlow 1 spellings (``tf.compat.v1``) of ops whose TensorFlow 2 signature differs:
``keep_dims``/``reduction_indices`` reductions, ``dimension=`` argmax, ``dim=`` softmax,
``dropout(x, keep_prob)``, ``conv2d(filter=...)``, ``max_pool(value, ...)``, and the
initializer functions of the session API."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.graph import _math_ops, _nn_ops, _ops
from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import DefaultName, Operation, Tensor, get_default_graph
from gentf.graph._variables import Variable, global_variables
from gentf.wire import as_dtype

__all__ = [
    "argmax",
    "argmin",
    "avg_pool",
    "conv2d",
    "dropout",
    "global_variables_initializer",
    "initialize_all_variables",
    "local_variables_initializer",
    "log_softmax",
    "max_pool",
    "reduce_all",
    "reduce_any",
    "reduce_logsumexp",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_sum",
    "set_random_seed",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2",
    "to_double",
    "to_float",
    "to_int32",
    "to_int64",
    "variables_initializer",
]


def _axis(axis: Any, reduction_indices: Any) -> Any:
    if axis is not None and reduction_indices is not None:
        raise ValueError("give axis or reduction_indices, not both")
    return axis if axis is not None else reduction_indices


def _keep(keepdims: Any, keep_dims: Any) -> bool:
    return bool(keepdims if keepdims is not None else keep_dims)


def _reduction(fn: Any, tf_name: str) -> Any:
    def reduce(input_tensor: Any, axis: Any = None, keepdims: Any = None, name: str | None = None,
               reduction_indices: Any = None, keep_dims: Any = None) -> Tensor:
        out: Tensor = fn(input_tensor, _axis(axis, reduction_indices), _keep(keepdims, keep_dims),
                         name=name)
        return out

    reduce.__name__ = reduce.__qualname__ = tf_name
    reduce.__doc__ = (f"``tf.{tf_name}(input_tensor, axis=None, keepdims=None, name=None, "
                      f"reduction_indices=None, keep_dims=None)``: TensorFlow 1's signature; "
                      f"``axis=None`` reduces every dimension.")
    return reduce


reduce_sum = _reduction(_ops.reduce_sum, "reduce_sum")
reduce_mean = _reduction(_ops.reduce_mean, "reduce_mean")
reduce_max = _reduction(_ops.reduce_max, "reduce_max")
reduce_min = _reduction(_ops.reduce_min, "reduce_min")
reduce_prod = _reduction(_ops.reduce_prod, "reduce_prod")
reduce_all = _reduction(_math_ops.reduce_all, "reduce_all")
reduce_any = _reduction(_math_ops.reduce_any, "reduce_any")
reduce_logsumexp = _reduction(_math_ops.reduce_logsumexp, "reduce_logsumexp")


def argmax(input: Any, axis: Any = None, name: str | None = None, dimension: Any = None,
           output_type: Any = "int64") -> Tensor:
    """``tf.argmax(input, axis=None, name=None, dimension=None, output_type=int64)``;
    ``axis`` (or ``dimension``) None means 0."""
    return _math_ops.argmax(input, _axis(axis, dimension), output_type=output_type, name=name)


def argmin(input: Any, axis: Any = None, name: str | None = None, dimension: Any = None,
           output_type: Any = "int64") -> Tensor:
    """``tf.argmin(input, axis=None, name=None, dimension=None, output_type=int64)``."""
    return _math_ops.argmin(input, _axis(axis, dimension), output_type=output_type, name=name)


def softmax(logits: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Tensor:
    """``tf.nn.softmax(logits, axis=None, name=None, dim=None)``; default: the last axis."""
    a = _axis(axis, dim)
    return _ops.softmax(logits, -1 if a is None else int(a), name=name)


def log_softmax(logits: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Tensor:
    """``tf.nn.log_softmax(logits, axis=None, name=None, dim=None)``; default: the last axis."""
    a = _axis(axis, dim)
    return _ops.log_softmax(logits, -1 if a is None else int(a), name=name)


def _cast(dtype: str, doc_name: str) -> Any:
    def cast(x: Any, name: str = doc_name) -> Tensor:
        return _ops.cast(x, dtype, name=DefaultName(name) if name == doc_name else name)

    cast.__name__ = cast.__qualname__ = doc_name
    cast.__doc__ = f"``tf.{doc_name}(x)``: ``tf.cast(x, tf.{dtype})``."
    return cast


to_float = _cast("float32", "to_float")
to_double = _cast("float64", "to_double")
to_int32 = _cast("int32", "to_int32")
to_int64 = _cast("int64", "to_int64")


def dropout(x: Any, keep_prob: Any = None, noise_shape: Any = None, seed: int | None = None,
            name: str | None = None, rate: Any = None) -> Tensor:
    """``tf.nn.dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None)``
    with TensorFlow 1's meaning: keeps each entry with probability ``keep_prob`` (a number
    or a tensor, such as a placeholder) and scales the kept ones by ``1 / keep_prob``;
    ``rate=`` (TensorFlow 2's spelling) is ``1 - keep_prob``. Fresh randomness on the
    worker at every run."""
    if (keep_prob is None) == (rate is None):
        raise ValueError("tf.nn.dropout takes keep_prob or rate (exactly one)")
    xt = convert_to_tensor(x)
    if not xt.dtype.name.startswith(("float", "bfloat", "half")):
        raise TypeError(f"tf.nn.dropout needs a floating point tensor, got {xt.dtype.name}")
    npd = xt.dtype.as_numpy_dtype
    graph = get_default_graph()
    with graph.name_scope(name or "dropout"):
        if keep_prob is not None:
            if not isinstance(keep_prob, Tensor) and not 0.0 < float(keep_prob) <= 1.0:
                raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
            keep = (convert_to_tensor(keep_prob, dtype=xt.dtype) if isinstance(keep_prob, Tensor)
                    else constant(np.asarray(keep_prob, npd), name="keep_prob"))
            drop = apply_op("Sub", [constant(np.asarray(1.0, npd)), keep]).outputs[0]
        else:
            if not isinstance(rate, Tensor) and not 0.0 <= float(rate) < 1.0:
                raise ValueError(f"rate must be in [0, 1), got {rate}")
            drop = (convert_to_tensor(rate, dtype=xt.dtype) if isinstance(rate, Tensor)
                    else constant(np.asarray(rate, npd), name="rate"))
            keep = apply_op("Sub", [constant(np.asarray(1.0, npd)), drop]).outputs[0]
        shape = (apply_op("Shape", [xt]).outputs[0] if noise_shape is None
                 else convert_to_tensor(np.asarray(noise_shape, np.int32)))
        s1, s2 = (0, 0) if seed is None else (int(seed), int(seed) + 1)
        u = apply_op("RandomUniform", [shape], {"dtype": xt.dtype, "seed": s1, "seed2": s2},
                     name="random_uniform").outputs[0]
        mask = apply_op("Cast", [apply_op("GreaterEqual", [u, drop]).outputs[0]],
                        {"DstT": xt.dtype}).outputs[0]
        scaled = apply_op("RealDiv", [xt, keep]).outputs[0]
        return apply_op("Mul", [scaled, mask], name="dropout").outputs[0]


def conv2d(input: Any, filter: Any = None, strides: Any = None, padding: Any = None,
           use_cudnn_on_gpu: bool = True, data_format: str = "NHWC", dilations: Any = None,
           name: str | None = None, filters: Any = None) -> Tensor:
    """``tf.nn.conv2d(input, filter, strides, padding, use_cudnn_on_gpu=True,
    data_format="NHWC", dilations=[1, 1, 1, 1], name=None)`` (``filters=`` also accepted)."""
    del use_cudnn_on_gpu
    f = filter if filter is not None else filters
    if f is None or strides is None or padding is None:
        raise TypeError("tf.nn.conv2d needs input, filter, strides and padding")
    return _nn_ops.conv2d(input, f, strides, padding, data_format=data_format, dilations=dilations,
                          name=name)


def max_pool(value: Any = None, ksize: Any = None, strides: Any = None, padding: Any = None,
             data_format: str = "NHWC", name: str | None = None, input: Any = None) -> Tensor:
    """``tf.nn.max_pool(value, ksize, strides, padding, data_format="NHWC", name=None)``."""
    x = value if value is not None else input
    return _nn_ops.max_pool2d(x, ksize, strides, padding, data_format=data_format, name=name)


def avg_pool(value: Any = None, ksize: Any = None, strides: Any = None, padding: Any = None,
             data_format: str = "NHWC", name: str | None = None, input: Any = None) -> Tensor:
    """``tf.nn.avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None)``."""
    x = value if value is not None else input
    return _nn_ops.avg_pool2d(x, ksize, strides, padding, data_format=data_format, name=name)


def softmax_cross_entropy_with_logits_v2(_sentinel: Any = None, labels: Any = None, logits: Any = None,
                                         axis: Any = None, name: str | None = None,
                                         dim: Any = None) -> Tensor:
    """``tf.nn.softmax_cross_entropy_with_logits_v2(labels=, logits=, axis=-1)``: per example
    ``-sum(labels * log_softmax(logits))`` with TensorFlow's fused kernel; gradients flow
    into both ``labels`` and ``logits``. Arguments must be passed by keyword."""
    if _sentinel is not None or labels is None or logits is None:
        raise ValueError("softmax_cross_entropy_with_logits takes labels= and logits= by keyword")
    lg = convert_to_tensor(logits)
    lab = convert_to_tensor(labels, dtype=None if isinstance(labels, Tensor) else lg.dtype)
    a = _axis(axis, dim)
    a = -1 if a is None else int(a)
    rank = None if lg.shape is None else len(lg.shape)
    if rank == 2 and a in (-1, 1):
        op = apply_op("SoftmaxCrossEntropyWithLogits", [lg, lab],
                      name=name or DefaultName("softmax_cross_entropy_with_logits"))
        return op.outputs[0]
    return _nn_ops.softmax_cross_entropy_with_logits(lab, lg, axis=a, name=name)


def softmax_cross_entropy_with_logits(_sentinel: Any = None, labels: Any = None, logits: Any = None,
                                      dim: Any = -1, name: str | None = None,
                                      axis: Any = None) -> Tensor:
    """``tf.nn.softmax_cross_entropy_with_logits(labels=, logits=, dim=-1)`` (TensorFlow 1):
    as the ``_v2`` op, but no gradient flows into ``labels``."""
    if _sentinel is not None or labels is None or logits is None:
        raise ValueError("softmax_cross_entropy_with_logits takes labels= and logits= by keyword")
    lab = labels if isinstance(labels, Tensor) else convert_to_tensor(
        labels, dtype=convert_to_tensor(logits).dtype)
    lab = _ops.stop_gradient(lab)
    return softmax_cross_entropy_with_logits_v2(labels=lab, logits=logits,
                                                axis=axis if axis is not None else dim, name=name)


def set_random_seed(seed: int | None) -> None:
    """``tf.set_random_seed(seed)``: accepted; random ops without their own ``seed`` draw
    fresh values on the worker (graph-level seeds are not reproduced)."""
    get_default_graph().seed = seed  # type: ignore[attr-defined]


def variables_initializer(var_list: Any, name: str = "init") -> Operation:
    """``tf.variables_initializer(var_list)``: one operation running every variable's
    initializer (a no-op for an empty list)."""
    ops = [v.initializer for v in var_list]
    return _ops.group(*ops, name=name) if ops else _ops.no_op(name=name)


def global_variables_initializer() -> Operation:
    """``tf.global_variables_initializer()``: an operation that sets every Variable of the
    default graph to its initial value again. Variables start initialized anyway; random
    initial values (tensors) are drawn again, as in TensorFlow 1."""
    return variables_initializer(global_variables(), name="init")


def initialize_all_variables() -> Operation:
    """Deprecated TensorFlow name of :func:`global_variables_initializer`."""
    return global_variables_initializer()


def local_variables_initializer() -> Operation:
    """``tf.local_variables_initializer()``: gentf has no local variables; a no-op."""
    return _ops.no_op(name="init_1")


_ = (as_dtype, Variable)
