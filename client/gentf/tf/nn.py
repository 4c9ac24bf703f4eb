"""``gentf.tf.nn``: TensorFlow's neural-network ops, with TensorFlow 1's signatures where
they differ (``dropout(x, keep_prob)``, ``conv2d(input, filter, ...)``, ``max_pool(value,
...)``, ``softmax(logits, dim=)``, ``softmax_cross_entropy_with_logits(labels=, logits=)``)."""

from gentf.graph._math_ops import log_sigmoid, top_k
from gentf.graph._nn_ops import (
    avg_pool2d,
    batch_normalization,
    bias_add,
    conv2d_transpose,
    depthwise_conv2d,
    elu,
    embedding_lookup,
    gelu,
    l2_loss,
    l2_normalize,
    leaky_relu,
    max_pool2d,
    moments,
    relu6,
    selu,
    sigmoid_cross_entropy_with_logits,
    silu,
    softplus,
    softsign,
    sparse_softmax_cross_entropy_with_logits,
    swish,
)
from gentf.graph._ops import relu, sigmoid, tanh
from gentf.tf._v1 import (
    avg_pool,
    conv2d,
    dropout,
    log_softmax,
    max_pool,
    softmax,
    softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
)

__all__ = [
    "avg_pool", "avg_pool2d", "batch_normalization", "bias_add", "conv2d", "conv2d_transpose",
    "depthwise_conv2d", "dropout", "elu", "embedding_lookup", "gelu", "l2_loss",
    "l2_normalize", "leaky_relu", "log_sigmoid", "log_softmax", "max_pool", "max_pool2d",
    "moments", "relu", "relu6", "selu", "sigmoid", "sigmoid_cross_entropy_with_logits", "silu",
    "softmax", "softmax_cross_entropy_with_logits", "softplus", "softsign",
    "softmax_cross_entropy_with_logits_v2", "sparse_softmax_cross_entropy_with_logits", "swish",
    "tanh", "top_k",
]
