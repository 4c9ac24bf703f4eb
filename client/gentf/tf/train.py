"""``gentf.tf.train``: optimizers building update ops on the worker."""

from gentf.graph._train import AdamOptimizer, GradientDescentOptimizer, Optimizer

__all__ = ["AdamOptimizer", "GradientDescentOptimizer", "Optimizer"]
