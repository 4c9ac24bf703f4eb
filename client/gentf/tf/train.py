"""``gentf.tf.train``: optimizers building update ops on the worker (TensorFlow 1 formulas);
``minimize`` and ``compute_gradients`` get their gradients from the worker's TensorFlow."""

from gentf.graph._train import (
    AdagradOptimizer,
    AdamOptimizer,
    GradientDescentOptimizer,
    MomentumOptimizer,
    Optimizer,
    RMSPropOptimizer,
    Saver,
    create_global_step,
    get_global_step,
    get_or_create_global_step,
)

__all__ = ["AdagradOptimizer", "AdamOptimizer", "GradientDescentOptimizer", "MomentumOptimizer",
           "Optimizer", "RMSPropOptimizer", "Saver", "create_global_step", "get_global_step",
           "get_or_create_global_step"]
