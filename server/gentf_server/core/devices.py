"""Device setup of a session process, before TensorFlow initializes its runtime: GPU memory
growth, logical CPU devices (``--logical-cpus``), and the process's tf.distribute strategy
(``--strategy``, see :mod:`gentf_server.core.distribute`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from gentf_server.core import distribute, functions

__all__ = ["NoGPUError", "configure_devices"]

log = logging.getLogger("gentf_server")


class NoGPUError(RuntimeError):
    """A GPU was required (``--gpus required``) and TensorFlow sees none."""


def configure_devices(settings: Mapping[str, Any] | None = None) -> list[str]:
    """Sets up this process's devices; returns the names of the devices sessions compute on.

    ``settings`` (from ``WorkerConfig.child_config()["devices"]``): ``strategy`` ("none",
    "mirrored" or "parameter-server"), ``logical_cpus`` (split the CPU into that many logical devices when > 0),
    ``require_gpu`` (raise :class:`NoGPUError` when TensorFlow finds no GPU),
    ``thread_spinning`` (False: TensorFlow's op threads sleep when out of work instead of
    spinning; default True, TensorFlow's own behaviour), ``intra_op_threads`` and
    ``inter_op_threads`` (thread pool sizes when > 0), ``jit_compile`` (fused Batches
    compile with XLA: :func:`gentf_server.core.functions.set_jit_compile`). Enables memory
    growth on every GPU. Must run before TensorFlow initializes its runtime for the logical
    devices to take effect; when it already has (a process that ran TensorFlow), logs a
    warning and keeps the devices there are. Logs the devices and the strategy.
    """
    settings = dict(settings or {})
    strategy_name = str(settings.get("strategy", "none"))
    logical_cpus = int(settings.get("logical_cpus", 0))
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        if settings.get("require_gpu"):
            raise NoGPUError(
                "a GPU was required (--gpus required) but TensorFlow finds none: check the "
                "driver (nvidia-smi), that the container sees the GPU (--gpus all), and that "
                "the CUDA build of TensorFlow is installed (pip install 'gentf[gpu]', not "
                "'gentf[server]')")
        if strategy_name == "mirrored" and logical_cpus <= 1:
            log.warning("--strategy %s asked for, but TensorFlow finds no GPU: running on the "
                        "CPU (use --logical-cpus N to split it into N replicas)", strategy_name)
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as exc:  # already initialised
            log.warning("memory growth not set: %s", exc)
    if logical_cpus > 0:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(logical_cpus)])
        except RuntimeError as exc:  # TensorFlow already initialised in this process
            log.warning("--logical-cpus %d not applied (TensorFlow already initialised): %s",
                        logical_cpus, exc)
    _configure_threads(bool(settings.get("thread_spinning", True)),
                       int(settings.get("intra_op_threads", 0)),
                       int(settings.get("inter_op_threads", 0)))
    functions.set_jit_compile(bool(settings.get("jit_compile", False)))
    names = distribute.configure(strategy_name)
    log.info("devices: %s; strategy %s over %s", [d.name for d in tf.config.list_logical_devices()],
             strategy_name, names)
    return names


def _configure_threads(spinning: bool, intra: int, inter: int) -> None:
    """TensorFlow's thread pools: spinning or not, and their sizes when > 0. Warns and leaves
    them as they are when TensorFlow already initialised its runtime in this process."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    ctx = context.context()
    if getattr(ctx, "_context_handle", None) is not None:
        log.warning("TensorFlow's thread pools not configured (already initialised)")
        return
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError as exc:  # pragma: no cover - checked above
        log.warning("TensorFlow's thread pools not sized: %s", exc)
    if not spinning:
        # No public API: the eager context's base ConfigProto, read when it initialises
        # (ConfigProto.experimental.disable_thread_spinning: both op thread pools sleep).
        if not hasattr(ctx, "_config"):  # pragma: no cover - another TensorFlow
            log.warning("thread spinning left on: this TensorFlow has no context config")
            return
        config = config_pb2.ConfigProto()
        if ctx._config is not None:
            config.CopyFrom(ctx._config)
        config.experimental.disable_thread_spinning = True
        ctx._config = config
