"""``gentf.tf.random``: random ops drawing fresh values on the worker at every run."""

from gentf.graph._init_ops import random_normal as normal
from gentf.graph._init_ops import random_uniform as uniform
from gentf.graph._init_ops import truncated_normal

__all__ = ["normal", "truncated_normal", "uniform"]
