"""``gentf.tf.nn``: TensorFlow's neural-network ops."""

from gentf.graph._ops import log_softmax, relu, sigmoid, softmax, tanh

__all__ = ["log_softmax", "relu", "sigmoid", "softmax", "tanh"]
