"""``gentf.tf.losses``: TensorFlow 1's losses (``tf.compat.v1.losses``).

Each loss takes ``weights`` (a scalar or a tensor broadcastable to the per-element loss)
and reduces with ``reduction``: ``Reduction.SUM_BY_NONZERO_WEIGHTS`` (the default: the
weighted sum divided by the number of nonzero weights, i.e. the mean with unit weights),
``MEAN`` (weighted sum over the sum of weights), ``SUM``, ``SUM_OVER_BATCH_SIZE`` or
``NONE`` (the weighted per-element loss).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.graph import _ops
from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import Tensor, get_default_graph
from gentf.graph._math_ops import squared_difference
from gentf.tf._v1 import softmax_cross_entropy_with_logits_v2

__all__ = ["Reduction", "absolute_difference", "compute_weighted_loss", "hinge_loss", "huber_loss",
           "log_loss", "mean_squared_error", "sigmoid_cross_entropy", "softmax_cross_entropy",
           "sparse_softmax_cross_entropy"]


class Reduction:
    """How a loss reduces its weighted per-element values (TensorFlow 1's names)."""

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS


def _num(x: Tensor) -> Tensor:
    return _ops.cast(apply_op("Size", [x]).outputs[0], x.dtype)


def compute_weighted_loss(losses: Any, weights: Any = 1.0, scope: str | None = None,
                          loss_collection: Any = None,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.compute_weighted_loss(losses, weights=1.0, reduction=...)``: the weighted
    per-element ``losses`` reduced as ``reduction`` says (see the module docstring)."""
    del loss_collection
    with get_default_graph().name_scope(scope or "weighted_loss"):
        x = convert_to_tensor(losses)
        w = convert_to_tensor(weights, dtype=None if isinstance(weights, Tensor) else x.dtype)
        weighted = _ops.multiply(x, w)
        if reduction == Reduction.NONE:
            return weighted
        total = _ops.reduce_sum(weighted)
        if reduction == Reduction.SUM:
            return total
        if reduction == Reduction.SUM_OVER_BATCH_SIZE:
            return _ops.divide(total, _num(x))
        full_w = _ops.multiply(w, _ops.ones_like(x))
        if reduction == Reduction.MEAN:
            denom = _ops.reduce_sum(full_w)
        elif reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
            nonzero = apply_op("NotEqual", [full_w, _ops.zeros_like(full_w)]).outputs[0]
            denom = _ops.reduce_sum(_ops.cast(nonzero, x.dtype))
        else:
            raise ValueError(f"unknown reduction {reduction!r}")
        return apply_op("DivNoNan", [total, denom], name="value").outputs[0]


def _labels_like(labels: Any, like: Tensor) -> Tensor:
    return convert_to_tensor(labels, dtype=None if isinstance(labels, Tensor) else like.dtype)


def mean_squared_error(labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None,
                       loss_collection: Any = None,
                       reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.mean_squared_error(labels, predictions)``: ``(predictions - labels)^2``, reduced."""
    p = convert_to_tensor(predictions)
    return compute_weighted_loss(squared_difference(p, _labels_like(labels, p)), weights,
                                 scope or "mean_squared_error", reduction=reduction)


def absolute_difference(labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None,
                        loss_collection: Any = None,
                        reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.absolute_difference(labels, predictions)``: ``|predictions - labels|``, reduced."""
    p = convert_to_tensor(predictions)
    return compute_weighted_loss(_ops.abs(_ops.subtract(p, _labels_like(labels, p))), weights,
                                 scope or "absolute_difference", reduction=reduction)


def huber_loss(labels: Any, predictions: Any, weights: Any = 1.0, delta: float = 1.0,
               scope: str | None = None, loss_collection: Any = None,
               reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.huber_loss(labels, predictions, delta=1.0)``: ``0.5 e^2`` for ``|e| <= delta``,
    else ``delta (|e| - 0.5 delta)``, reduced."""
    p = convert_to_tensor(predictions)
    err = _ops.abs(_ops.subtract(p, _labels_like(labels, p)))
    quad = _ops.minimum(err, delta)
    lin = _ops.subtract(err, quad)
    per = _ops.add(_ops.multiply(0.5, _ops.square(quad)), _ops.multiply(delta, lin))
    return compute_weighted_loss(per, weights, scope or "huber_loss", reduction=reduction)


def log_loss(labels: Any, predictions: Any, weights: Any = 1.0, epsilon: float = 1e-7,
             scope: str | None = None, loss_collection: Any = None,
             reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.log_loss(labels, predictions, epsilon=1e-7)``:
    ``-y log(p + eps) - (1 - y) log(1 - p + eps)``, reduced."""
    p = convert_to_tensor(predictions)
    y = _labels_like(labels, p)
    per = _ops.subtract(_ops.negative(_ops.multiply(y, _ops.log(_ops.add(p, epsilon)))),
                        _ops.multiply(_ops.subtract(1.0, y), _ops.log(_ops.add(_ops.subtract(1.0, p), epsilon))))
    return compute_weighted_loss(per, weights, scope or "log_loss", reduction=reduction)


def hinge_loss(labels: Any, logits: Any, weights: Any = 1.0, scope: str | None = None,
               loss_collection: Any = None,
               reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.hinge_loss(labels, logits)``: labels in {0, 1};
    ``max(0, 1 - (2 labels - 1) logits)``, reduced."""
    lg = convert_to_tensor(logits)
    signs = _ops.subtract(_ops.multiply(2.0, _labels_like(labels, lg)), 1.0)
    per = _ops.relu(_ops.subtract(1.0, _ops.multiply(signs, lg)))
    return compute_weighted_loss(per, weights, scope or "hinge_loss", reduction=reduction)


def sigmoid_cross_entropy(multi_class_labels: Any, logits: Any, weights: Any = 1.0,
                          label_smoothing: float = 0.0, scope: str | None = None,
                          loss_collection: Any = None,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.sigmoid_cross_entropy(multi_class_labels, logits)``, reduced."""
    from gentf.graph._nn_ops import sigmoid_cross_entropy_with_logits

    lg = convert_to_tensor(logits)
    y = _labels_like(multi_class_labels, lg)
    if label_smoothing:
        y = _ops.add(_ops.multiply(y, 1.0 - label_smoothing), 0.5 * label_smoothing)
    per = sigmoid_cross_entropy_with_logits(labels=y, logits=lg)
    return compute_weighted_loss(per, weights, scope or "sigmoid_cross_entropy_loss", reduction=reduction)


def softmax_cross_entropy(onehot_labels: Any, logits: Any, weights: Any = 1.0,
                          label_smoothing: float = 0.0, scope: str | None = None,
                          loss_collection: Any = None,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.softmax_cross_entropy(onehot_labels, logits)``: per-example softmax cross
    entropy (no gradient into the labels), reduced."""
    lg = convert_to_tensor(logits)
    y = _ops.stop_gradient(_labels_like(onehot_labels, lg))
    if label_smoothing:
        k = lg.shape[-1] if lg.shape else None
        if k is None:
            raise ValueError("label_smoothing needs the number of classes statically")
        y = _ops.add(_ops.multiply(y, 1.0 - label_smoothing), label_smoothing / k)
    per = softmax_cross_entropy_with_logits_v2(labels=y, logits=lg)
    return compute_weighted_loss(per, weights, scope or "softmax_cross_entropy_loss", reduction=reduction)


def sparse_softmax_cross_entropy(labels: Any, logits: Any, weights: Any = 1.0, scope: str | None = None,
                                 loss_collection: Any = None,
                                 reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.sparse_softmax_cross_entropy(labels, logits)``: labels are class indices."""
    from gentf.graph._nn_ops import sparse_softmax_cross_entropy_with_logits

    lab = labels if isinstance(labels, Tensor) else constant(np.asarray(labels, np.int64))
    per = sparse_softmax_cross_entropy_with_logits(labels=lab, logits=logits)
    return compute_weighted_loss(per, weights, scope or "sparse_softmax_cross_entropy_loss",
                                 reduction=reduction)
