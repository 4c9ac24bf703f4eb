"""Device setup: GPU memory growth, so one worker does not take a whole GPU at start."""

from __future__ import annotations

import logging

import tensorflow as tf

__all__ = ["configure_devices"]


def configure_devices() -> list[str]:
    """Enables memory growth on every GPU; returns the physical device names."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as exc:  # already initialised
            logging.getLogger("gentf_server").warning("memory growth not set: %s", exc)
    return [d.name for d in tf.config.list_physical_devices()]
