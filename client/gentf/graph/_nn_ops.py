"""TensorFlow's neural-network ops (``tf.nn``) by TensorFlow 2's names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import DefaultName, Tensor
from gentf.graph._math_ops import log_sigmoid
from gentf.graph._ops import _along_last, _binary, _reduce, _unary, reduce_mean, reshape
from gentf.wire import as_dtype

__all__ = [
    "avg_pool2d", "batch_normalization", "bias_add", "conv2d", "conv2d_transpose",
    "depthwise_conv2d", "dropout", "elu", "embedding_lookup", "gelu", "l2_loss",
    "l2_normalize", "leaky_relu", "log_sigmoid", "max_pool2d", "moments", "relu6", "selu",
    "sigmoid_cross_entropy_with_logits", "silu", "softmax_cross_entropy_with_logits",
    "softplus", "softsign", "sparse_softmax_cross_entropy_with_logits", "swish",
]


def _t(x: Any, dtype: Any = None) -> Tensor:
    return convert_to_tensor(x, dtype=dtype)


def _four(value: Any, data_format: str, what: str) -> list[int]:
    """TensorFlow's expansion of a stride / window argument to the 4 dimensions of NHWC/NCHW."""
    items = [int(v) for v in (np.asarray(value).reshape(-1))]
    if len(items) == 1:
        items = items * 2
    if len(items) == 2:
        return [1, *items, 1] if data_format == "NHWC" else [1, 1, *items]
    if len(items) == 4:
        return items
    raise ValueError(f"{what} must have 1, 2 or 4 entries, got {value!r}")


def conv2d(input: Any, filters: Any, strides: Any, padding: Any, data_format: str = "NHWC",
           dilations: Any = None, name: str | None = None) -> Tensor:
    """``tf.nn.conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None)``.

    ``input`` is ``[batch, height, width, in_channels]``, ``filters`` is ``[fh, fw, in, out]``;
    ``padding`` is ``"SAME"``, ``"VALID"`` or explicit ``[[0, 0], [t, b], [l, r], [0, 0]]``.
    """
    x = _t(input)
    attrs: dict[str, Any] = {"strides": _four(strides, data_format, "strides"), "data_format": data_format,
                             "dilations": _four(1 if dilations is None else dilations, data_format, "dilations")}
    if isinstance(padding, str):
        attrs["padding"] = padding.upper()
    else:
        attrs["padding"] = "EXPLICIT"
        attrs["explicit_paddings"] = [int(p) for p in np.asarray(padding).reshape(-1)]
    return apply_op("Conv2D", [x, _t(filters, x.dtype)], attrs, name=name).outputs[0]


def conv2d_transpose(input: Any, filters: Any, output_shape: Any, strides: Any, padding: str = "SAME",
                     data_format: str = "NHWC", dilations: Any = None, name: str | None = None) -> Tensor:
    """``tf.nn.conv2d_transpose(input, filters, output_shape, strides, padding="SAME")``:
    the gradient of conv2d with respect to its input; ``filters`` is ``[fh, fw, out, in]``."""
    x = _t(input)
    sizes = output_shape if isinstance(output_shape, Tensor) else constant(np.asarray(output_shape, np.int32))
    attrs = {"strides": _four(strides, data_format, "strides"), "padding": padding.upper(),
             "data_format": data_format,
             "dilations": _four(1 if dilations is None else dilations, data_format, "dilations")}
    return apply_op("Conv2DBackpropInput", [sizes, _t(filters, x.dtype), x], attrs, name=name).outputs[0]


def depthwise_conv2d(input: Any, filter: Any, strides: Any, padding: str,
                     data_format: str = "NHWC", dilations: Any = None, name: str | None = None) -> Tensor:
    """``tf.nn.depthwise_conv2d(input, filter, strides, padding)``: ``filter`` is
    ``[fh, fw, in_channels, channel_multiplier]``."""
    x = _t(input)
    attrs = {"strides": _four(strides, data_format, "strides"), "padding": padding.upper(),
             "data_format": data_format,
             "dilations": _four(1 if dilations is None else dilations, data_format, "dilations")}
    return apply_op("DepthwiseConv2dNative", [x, _t(filter, x.dtype)], attrs, name=name).outputs[0]


def max_pool2d(input: Any, ksize: Any, strides: Any, padding: str, data_format: str = "NHWC",
               name: str | None = None) -> Tensor:
    """``tf.nn.max_pool2d(input, ksize, strides, padding, data_format="NHWC")``."""
    attrs = {"ksize": _four(ksize, data_format, "ksize"), "strides": _four(strides, data_format, "strides"),
             "padding": padding.upper(), "data_format": data_format}
    return apply_op("MaxPool", [_t(input)], attrs, name=name).outputs[0]


def avg_pool2d(input: Any, ksize: Any, strides: Any, padding: str, data_format: str = "NHWC",
               name: str | None = None) -> Tensor:
    """``tf.nn.avg_pool2d(input, ksize, strides, padding, data_format="NHWC")``."""
    attrs = {"ksize": _four(ksize, data_format, "ksize"), "strides": _four(strides, data_format, "strides"),
             "padding": padding.upper(), "data_format": data_format}
    return apply_op("AvgPool", [_t(input)], attrs, name=name).outputs[0]


def bias_add(value: Any, bias: Any, data_format: str | None = None, name: str | None = None) -> Tensor:
    """``tf.nn.bias_add(value, bias)``: adds the 1-d ``bias`` along the channel dimension."""
    x = _t(value)
    fmt = "NCHW" if data_format in ("NCHW", "NCW", "NCDHW") else "NHWC"
    return apply_op("BiasAdd", [x, _t(bias, x.dtype)], {"data_format": fmt}, name=name).outputs[0]


def relu6(features: Any, name: str | None = None) -> Tensor:
    """``tf.nn.relu6(features)``: ``min(max(x, 0), 6)``."""
    return _unary("Relu6", features, name)


def elu(features: Any, name: str | None = None) -> Tensor:
    """``tf.nn.elu(features)``: ``x`` if positive, else ``exp(x) - 1``."""
    return _unary("Elu", features, name)


def selu(features: Any, name: str | None = None) -> Tensor:
    """``tf.nn.selu(features)``: scaled ELU."""
    return _unary("Selu", features, name)


def softplus(features: Any, name: str | None = None) -> Tensor:
    """``tf.nn.softplus(features)``: ``log(exp(x) + 1)``."""
    return _unary("Softplus", features, name)


def softsign(features: Any, name: str | None = None) -> Tensor:
    """``tf.nn.softsign(features)``: ``x / (abs(x) + 1)``."""
    return _unary("Softsign", features, name)


def leaky_relu(features: Any, alpha: float = 0.2, name: str | None = None) -> Tensor:
    """``tf.nn.leaky_relu(features, alpha=0.2)``."""
    return apply_op("LeakyRelu", [_t(features)], {"alpha": float(alpha)}, name=name).outputs[0]


def silu(features: Any, beta: float = 1.0, name: str | None = None) -> Tensor:
    """``tf.nn.silu(features, beta=1.0)``: ``x * sigmoid(beta * x)`` (swish)."""
    x = _t(features)
    scaled = x if beta == 1.0 else _binary("Mul", x, beta, None)
    return _binary("Mul", x, _unary("Sigmoid", scaled, None), name or DefaultName("silu"))


swish = silu


def gelu(features: Any, approximate: bool = False, name: str | None = None) -> Tensor:
    """``tf.nn.gelu(features, approximate=False)``: ``x * Phi(x)`` (tanh form if approximate)."""
    x = _t(features)
    if approximate:
        cube = _binary("Mul", _binary("Mul", x, x, None), x, None)
        inner = _binary("Mul", _binary("AddV2", x, _binary("Mul", cube, 0.044715, None), None),
                        float(np.sqrt(2.0 / np.pi)), None)
        return _binary("Mul", _binary("Mul", x, 0.5, None),
                       _binary("AddV2", _unary("Tanh", inner, None), 1.0, None), name or DefaultName("gelu"))
    scaled = _unary("Neg", _binary("Mul", x, float(1 / np.sqrt(2.0)), None), None)
    phi = _binary("Mul", _unary("Erfc", scaled, None), 0.5, None)  # Phi(x), accurate for x << 0
    return _binary("Mul", x, phi, name or DefaultName("gelu"))


def l2_loss(t: Any, name: str | None = None) -> Tensor:
    """``tf.nn.l2_loss(t)``: ``sum(t ** 2) / 2``."""
    return _unary("L2Loss", t, name)


def l2_normalize(x: Any, axis: Any = None, epsilon: float = 1e-12, name: str | None = None) -> Tensor:
    """``tf.math.l2_normalize(x, axis=None, epsilon=1e-12)``: ``x / sqrt(max(sum(x**2), epsilon))``."""
    xt = _t(x)
    sq = _reduce("Sum", _unary("Square", xt, None), axis, True, None)
    inv = _unary("Rsqrt", _binary("Maximum", sq, epsilon, None), None)
    return _binary("Mul", xt, inv, name or "l2_normalize")


def moments(x: Any, axes: Sequence[int], shift: Any = None, keepdims: bool = False,
            name: str | None = None) -> tuple[Tensor, Tensor]:
    """``tf.nn.moments(x, axes, keepdims=False)``: ``(mean, variance)`` over ``axes``."""
    xt = _t(x)
    mean = _reduce("Mean", xt, axes, True, None)
    variance = _reduce("Mean", _binary("SquaredDifference", xt, apply_op("StopGradient", [mean]).outputs[0], None),
                       axes, keepdims, None)
    if not keepdims:
        mean = apply_op("Squeeze", [mean], {"squeeze_dims": [int(a) for a in np.asarray(axes).reshape(-1)]}).outputs[0]
    if name:
        mean = _unary("Identity", mean, f"{name}_mean")
        variance = _unary("Identity", variance, f"{name}_variance")
    return mean, variance


def batch_normalization(x: Any, mean: Any, variance: Any, offset: Any, scale: Any,
                        variance_epsilon: float, name: str | None = None) -> Tensor:
    """``tf.nn.batch_normalization(x, mean, variance, offset, scale, variance_epsilon)``:
    ``scale * (x - mean) / sqrt(variance + eps) + offset`` (offset, scale may be None)."""
    xt = _t(x)

    def like_x(v: Any) -> Tensor:
        return _t(v) if isinstance(v, Tensor) or hasattr(v, "_as_tensor") else _t(v, xt.dtype)

    inv = _unary("Rsqrt", _binary("AddV2", like_x(variance), variance_epsilon, None), None)
    if scale is not None:
        inv = _binary("Mul", inv, like_x(scale), None)
    out = _binary("Mul", _binary("Sub", xt, like_x(mean), None), inv, None)
    return _binary("AddV2", out, like_x(offset if offset is not None else 0.0), name or DefaultName("batchnorm"))


def softmax_cross_entropy_with_logits(labels: Any, logits: Any, axis: int = -1,
                                      name: str | None = None) -> Tensor:
    """``tf.nn.softmax_cross_entropy_with_logits(labels, logits, axis=-1)``: per example
    ``-sum(labels * log_softmax(logits))``; gradients flow to both arguments."""
    lg = _t(logits)
    log_p = _along_last("LogSoftmax", lg, axis, None)
    return _binary("Mul", _reduce("Sum", _binary("Mul", _t(labels, lg.dtype), log_p, None), [axis], False, None),
                   -1.0, name or DefaultName("softmax_cross_entropy_with_logits"))


def sparse_softmax_cross_entropy_with_logits(labels: Any, logits: Any, name: str | None = None) -> Tensor:
    """``tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)``: labels are class
    indices of shape ``logits.shape[:-1]``."""
    lab = _t(labels) if isinstance(labels, Tensor) else constant(np.asarray(labels, np.int64))
    op = apply_op("SparseSoftmaxCrossEntropyWithLogits", [_t(logits), lab], name=name)
    return op.outputs[0]


def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None, name: str | None = None) -> Tensor:
    """``tf.nn.sigmoid_cross_entropy_with_logits(labels, logits)``: elementwise
    ``max(x, 0) - x * z + log(1 + exp(-abs(x)))`` with ``x`` the logits, ``z`` the labels."""
    x = _t(logits)
    z = _t(labels, x.dtype)
    relu_x = _unary("Relu", x, None)
    softplus_neg_abs = _unary("Log1p", _unary("Exp", _unary("Neg", _unary("Abs", x, None), None), None), None)
    return _binary("AddV2", _binary("Sub", relu_x, _binary("Mul", x, z, None), None), softplus_neg_abs,
                   name or DefaultName("logistic_loss"))


def embedding_lookup(params: Any, ids: Any, max_norm: Any = None, name: str | None = None) -> Tensor:
    """``tf.nn.embedding_lookup(params, ids)``: rows of ``params`` at ``ids``."""
    from gentf.graph._array_ops import gather

    return gather(params, ids, name=name or DefaultName("embedding_lookup"))


def dropout(x: Any, rate: float, noise_shape: Any = None, seed: int | None = None,
            name: str | None = None) -> Tensor:
    """``tf.nn.dropout(x, rate, seed=None)``: zeroes entries with probability ``rate`` and
    scales the rest by ``1 / (1 - rate)``; fresh randomness on the worker at every run."""
    xt = _t(x)
    shape = apply_op("Shape", [xt]).outputs[0] if noise_shape is None else constant(np.asarray(noise_shape, np.int32))
    s1, s2 = (0, 0) if seed is None else (int(seed), int(seed) + 1)
    u = apply_op("RandomUniform", [shape], {"dtype": xt.dtype, "seed": s1, "seed2": s2}).outputs[0]
    keep = apply_op("GreaterEqual", [u, constant(np.asarray(rate, xt.dtype.as_numpy_dtype))]).outputs[0]
    scaled = _binary("Mul", xt, 1.0 / (1.0 - rate), None)
    return apply_op("SelectV2", [keep, scaled, apply_op("ZerosLike", [scaled]).outputs[0]],
                    name=name or DefaultName("dropout")).outputs[0]


_ = (as_dtype, reduce_mean, reshape, log_sigmoid)
