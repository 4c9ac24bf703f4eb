"""The session process's tf.distribute strategy, and row splitting for batched functions.

One strategy per process (``--strategy``), made once by :func:`configure` after the devices
are set up. With ``mirrored``, a session creates its variables under the strategy's scope
(:class:`tf.distribute.MirroredStrategy`: one copy per device); the copy on the first device
is the *primary*, which every whole-function call, run and checkpoint reads and writes. A
function declared ``batched`` splits each call's rows over the replicas with
``strategy.run``; before it does, the other copies of the variables it reads are refreshed
from the primary inside the same compiled call, so a replica never sees a stale value.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import tensorflow as tf

__all__ = ["configure", "devices", "primary", "replica_count", "scope", "split_sizes",
           "strategy", "sync_mirrors"]

_lock = threading.Lock()
_strategy: tf.distribute.Strategy | None = None
_devices: list[str] = []


def configure(name: str) -> list[str]:
    """Makes this process's strategy: ``"none"`` (one device) or ``"mirrored"`` (every GPU,
    else every logical CPU device). Returns the devices sessions compute on. Call once the
    logical devices are configured; a later call replaces the strategy (for new sessions)."""
    global _strategy, _devices
    if name not in ("none", "mirrored"):
        raise ValueError(f"unknown strategy {name!r}: expected 'none' or 'mirrored'")
    with _lock:
        gpus = tf.config.list_logical_devices("GPU")
        if name == "none":
            _strategy = None
            first = gpus[0] if gpus else tf.config.list_logical_devices("CPU")[0]
            _devices = [first.name]
        else:
            chosen = gpus or tf.config.list_logical_devices("CPU")
            _devices = [d.name for d in chosen]
            _strategy = tf.distribute.MirroredStrategy(
                devices=_devices,
                cross_device_ops=None if gpus else tf.distribute.ReductionToOneDevice())
        return list(_devices)


def strategy() -> tf.distribute.Strategy | None:
    """The process's strategy; None without one (``--strategy none``)."""
    return _strategy


def devices() -> list[str]:
    """The devices sessions compute on (the strategy's replicas, else the one device)."""
    return list(_devices) or [tf.config.list_logical_devices()[0].name]


def replica_count() -> int:
    """How many replicas a batched function's rows are split over (1 without a strategy)."""
    return _strategy.num_replicas_in_sync if _strategy is not None else 1


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """The strategy's scope (variables created inside are mirrored), or nothing."""
    if _strategy is None:
        yield
    else:
        with _strategy.scope():
            yield


def primary(variable: tf.Variable) -> tf.Variable:
    """The copy of a (possibly mirrored) variable on the first device."""
    values = getattr(variable, "values", None)
    return values[0] if values else variable


def sync_mirrors(variables: Sequence[Any]) -> None:
    """Copies each mirrored variable's primary value into its other copies (call while
    tracing, in cross-replica context)."""
    for v in variables:
        values = getattr(v, "values", None)
        if not values or len(values) < 2:
            continue
        value = tf.raw_ops.ReadVariableOp(resource=values[0].handle, dtype=values[0].dtype)
        for copy in values[1:]:
            with tf.device(copy.device):
                tf.raw_ops.AssignVariableOp(resource=copy.handle, value=value)


def split_sizes(rows: Any, parts: int) -> Any:
    """Row counts of ``parts`` consecutive chunks of ``rows`` rows (an int32 tensor): as
    equal as they can be, the first ``rows % parts`` chunks one row longer; chunks may be
    empty (fewer rows than parts)."""
    rows = tf.cast(rows, tf.int32)
    base = rows // parts
    extra = rows - base * parts
    return base + tf.cast(tf.range(parts) < extra, tf.int32)
