"""``gentf.tf.compat``: ``compat.v1`` is ``gentf.tf`` itself (the TensorFlow 1 graph API), so
``import gentf.tf.compat.v1 as tf`` and ``from gentf.tf import compat; compat.v1.Session``
both work."""

import sys

v1 = sys.modules["gentf.tf"]
"""The ``gentf.tf`` module."""

sys.modules[__name__ + ".v1"] = v1

__all__ = ["v1"]
