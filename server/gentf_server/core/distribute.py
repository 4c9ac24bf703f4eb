"""The session process's tf.distribute strategy, and row splitting for batched functions.

One strategy per process (``--strategy``), made once by :func:`configure` after the devices
are set up. With ``mirrored``, a session creates its variables under the strategy's scope
(:class:`tf.distribute.MirroredStrategy`: one copy per device); the copy on the first device
is the *primary*, which every whole-function call, run and checkpoint reads and writes. A
function declared ``batched`` splits each call's rows over the replicas with
``strategy.run``; before it does, the other copies of the variables it reads are refreshed
from the primary inside the same compiled call, so a replica never sees a stale value.

With ``parameter-server`` (several hosts, TensorFlow's ``TF_CONFIG``, see
:mod:`gentf_server.core.cluster`), this process is the cluster's coordinator
(:class:`tf.distribute.ParameterServerStrategy` with a
:class:`tf.distribute.coordinator.ClusterCoordinator`): sessions create their variables
under the strategy's scope, which places each one whole on a ``ps`` task (round robin), and
:func:`call` schedules each compiled call on whichever ``worker`` task is free and waits for
its result, so every call stays synchronous for the client.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import tensorflow as tf

from gentf_server.core.fastcall import call_flat
from gentf_server.core.snapshots import restore, snapshot

__all__ = ["STRATEGIES", "call", "colocated", "colocation", "colocation_groups", "configure",
           "coordinator", "devices", "primary",
           "replica_count", "scope", "split_sizes", "strategy", "sync_mirrors"]

STRATEGIES = ("none", "mirrored", "parameter-server")
"""The names ``--strategy`` accepts."""

log = logging.getLogger("gentf_server")

_lock = threading.Lock()
_strategy: tf.distribute.Strategy | None = None
_devices: list[str] = []
_coordinator: Any = None
_workers = 0
"""With parameter-server: the cluster's worker tasks."""
_schedule_lock = threading.Lock()
"""One scheduled call at a time: the coordinator's error state is shared by every call it
schedules (one failure would cancel the others), so calls take turns."""


def configure(name: str) -> list[str]:
    """Makes this process's strategy: ``"none"`` (one device), ``"mirrored"`` (every GPU,
    else every logical CPU device) or ``"parameter-server"`` (the cluster ``TF_CONFIG``
    describes, this process its chief: raises :class:`~gentf_server.core.cluster.TFConfigError`
    for a bad ``TF_CONFIG``). Returns the devices sessions compute on (with
    parameter-server: the worker tasks, then the ps tasks' CPUs, which hold the variables). Call once the logical
    devices are configured; a later call replaces the strategy (for new sessions)."""
    global _strategy, _devices, _coordinator, _workers
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}: expected one of {', '.join(STRATEGIES)}")
    with _lock:
        gpus = tf.config.list_logical_devices("GPU")
        _coordinator = None
        if name == "parameter-server":
            _strategy, _coordinator, _devices = _parameter_server()
            _workers = sum(1 for d in _devices if d.startswith("/job:worker/"))
        elif name == "none":
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


def _parameter_server() -> tuple[tf.distribute.Strategy, Any, list[str]]:
    """The strategy, its coordinator and the cluster's devices, from ``TF_CONFIG``."""
    import os

    from gentf_server.core.cluster import parse_tf_config

    config = parse_tf_config(os.environ)
    os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    # No variable_partitioner: a user's graph addresses each variable through one resource
    # handle (reads, assignments, optimizer kernels), which a ShardedVariable does not have.
    # Variables are spread whole over the ps tasks instead.
    ps_strategy = tf.distribute.ParameterServerStrategy(resolver)
    coordinator = tf.distribute.coordinator.ClusterCoordinator(ps_strategy)
    # A worker task runs calls on its default device (its first GPU, else its CPU); a ps
    # task keeps variables on its CPU.
    names = [f"/job:worker/replica:0/task:{i}" for i in range(len(config.cluster["worker"]))]
    names += [f"/job:ps/replica:0/task:{i}/device:CPU:0" for i in range(len(config.cluster["ps"]))]
    return ps_strategy, coordinator, names


def coordinator() -> Any:
    """The process's ClusterCoordinator (``--strategy parameter-server``), else None."""
    return _coordinator


def call(function: Any, args: Sequence[Any], rows: int = 0,
         written: Sequence[tf.Variable] = ()) -> Any:
    """Runs a compiled (concrete) function on ``args`` and returns its outputs: here, or
    with parameter-server, scheduled on a free worker task and waited for (one call at a
    time). A TensorFlow error raises as the ``tf.errors.OpError`` the function raised; the
    coordinator is then cleared of it, so later calls run.

    ``rows`` > 0 declares the function row-independent in its first ``rows`` arguments
    (the rest, e.g. a scale, go to every part whole): with parameter-server and several
    worker tasks, when those arguments have the same number of rows, each worker task gets
    a consecutive share of the rows (:func:`split_sizes`), the parts run at once, and every
    output is the parts' outputs concatenated in order. The function may add into
    ``written`` variables (accumulators) from every part; when any part fails, they are
    restored to their values before the call."""
    if _coordinator is None:  # here: through TensorFlow's innermost entry (core.fastcall)
        return call_flat(function, args)
    parts = _workers if rows else 1
    sizes = _row_split(args[:rows], parts) if parts > 1 else None
    with _schedule_lock:
        saved = snapshot(written) if sizes is not None else []
        try:
            if sizes is None:
                return _coordinator.schedule(function, args=tuple(args)).get()
            chunks = [tf.split(a, sizes, num=parts, axis=0) for a in args[:rows]]
            remotes = [_coordinator.schedule(function, args=(*[c[i] for c in chunks],
                                                             *args[rows:]))
                       for i in range(parts)]
            outs = [remote.get() for remote in remotes]
            return tf.nest.map_structure(lambda *xs: tf.concat(xs, axis=0), *outs)
        except BaseException:
            # The coordinator keeps the error and would raise it again at the next
            # schedule; join() waits for the other parts, raises it and forgets it.
            with contextlib.suppress(Exception):
                _coordinator.join()
            restore(saved)
            raise


def _row_split(rowwise: Sequence[Any], parts: int) -> list[int] | None:
    """Row counts of ``parts`` consecutive shares when every argument has the same known
    number of rows, else None (run whole)."""
    counts = {int(a.shape[0]) if a.shape.rank else -1 for a in rowwise}
    if len(counts) != 1 or -1 in counts:
        return None
    (total,) = counts
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


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
    """The strategy's scope (variables created inside are mirrored; with parameter-server,
    placed on a ps task, which is logged at DEBUG), or nothing."""
    if _strategy is None:
        yield
    elif _coordinator is not None:
        with _strategy.scope(), tf.variable_creator_scope(_log_placement):
            yield
    else:
        with _strategy.scope():
            yield


def colocation(new_nodes: Sequence[Any], nodes: Mapping[str, Any]) -> dict[str, str]:
    """With parameter-server: for each new variable node that must share a ps task with
    another variable, that variable's node name (else nothing). Variables that one op takes
    as resource inputs together (an optimizer's variable and its slots, for
    ``ResourceApplyAdam``) must live on one device; a group with a variable made earlier
    follows it, a new group follows its first variable. ``new_nodes`` are the nodes being
    added (``GraphNode``s, in order) and ``nodes`` the graph's nodes before them, by name.
    """
    if _coordinator is None:
        return {}
    return colocation_groups(new_nodes, nodes)


def colocation_groups(new_nodes: Sequence[Any], nodes: Mapping[str, Any]) -> dict[str, str]:
    """:func:`colocation` whatever the strategy (pure: reads ``name``, ``op`` and
    ``tf_def.input`` of the nodes)."""
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    new_variables = [n.name for n in new_nodes if n.op == "VarHandleOp"]
    adding = {n.name: n for n in new_nodes}
    order = {name: i for i, name in enumerate(new_variables)}
    for node in new_nodes:
        used = []
        for text in node.tf_def.input:
            name, index = _parse_input(text)
            source = adding.get(name) or nodes.get(name)
            if index >= 0 and source is not None and source.op == "VarHandleOp":
                used.append(name)
        roots = [find(n) for n in used]
        # A variable made earlier is the root of its group, else the new one made first
        # (variables are made in ``new_nodes`` order), so the others follow it.
        old = [r for r in roots if r not in order]
        anchor = old[0] if old else min(roots, key=order.__getitem__, default=None)
        for root in roots:
            if root != anchor and anchor is not None:
                if root not in order:
                    log.warning("node %s uses variables %s and %s, both made earlier: if "
                                "they are on different ps tasks, it fails to run", node.name,
                                anchor, root)
                    continue
                parent[root] = anchor
    return {n: find(n) for n in new_variables if find(n) != n}


@contextlib.contextmanager
def colocated(variable: Any) -> Iterator[None]:
    """Variables created inside live on the device of ``variable`` (one the strategy made);
    nothing when ``variable`` is None or there is no parameter-server strategy."""
    if variable is None or _coordinator is None or _strategy is None:
        yield
    else:
        with _strategy.extended.colocate_vars_with(variable):
            yield


def _parse_input(text: str) -> tuple[str, int]:
    if text.startswith("^"):
        return text[1:], -1
    name, sep, index = text.rpartition(":")
    return (name, int(index)) if sep and index.isdigit() else (text, 0)


def _log_placement(next_creator: Any, **kwargs: Any) -> Any:
    variable = next_creator(**kwargs)
    log.debug("variable %s %s on %s", variable.name, variable.shape.as_list(), variable.device)
    return variable


def primary(variable: tf.Variable) -> tf.Variable:
    """The copy of a (possibly mirrored) variable on the first device; with
    parameter-server, the variable on its ps task (without the strategy's read cache)."""
    values = getattr(variable, "values", None)
    if values:
        return values[0]
    if _coordinator is not None and hasattr(variable, "get") and hasattr(variable, "_v"):
        return variable.get()  # ps_values.CachingVariable
    return variable


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
