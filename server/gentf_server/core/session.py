"""A worker session: one growing graph, its variables, compiled functions, runs and traces.

Every method takes the session's lock, so all TensorFlow work of a session is ordered:
two clients accumulating gradients at once lose nothing. A method that fails changes
nothing: graph growth and function construction are validated before anything is kept,
and accumulation adds only after every gradient was computed.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from gentf.v1 import graph_pb2

from gentf_server.core import errors
from gentf_server.core.checks import check_value
from gentf_server.core.functions import CompiledFunction
from gentf_server.core.graph import VARIABLE, GraphNode, SessionGraph
from gentf_server.core.registry import OpRegistry
from gentf_server.core.runner import Runner
from gentf_server.core.traces import TraceRecord, TraceStore

__all__ = ["Session", "SessionLimits", "session_limits"]


@dataclass(frozen=True)
class SessionLimits:
    """Per-session bounds."""

    trace_bytes: int = 256 << 20
    max_traces: int = 100_000
    max_runners: int = 256


def session_limits(values: dict[str, Any]) -> SessionLimits:
    """SessionLimits from a mapping, ignoring names this core does not know."""
    known = {f.name for f in dataclasses.fields(SessionLimits)}
    return SessionLimits(**{k: v for k, v in values.items() if k in known})


class Session:
    """The state of one client session on the worker."""

    def __init__(self, registry: OpRegistry, lease_seconds: float, limits: SessionLimits) -> None:
        self.session_id = uuid.uuid4().hex
        self.lease_seconds = lease_seconds
        self.deadline = time.monotonic() + lease_seconds
        self.closed = False
        self._lock = threading.RLock()
        self._graph = SessionGraph(registry)
        self._variables: dict[str, tf.Variable] = {}
        self._functions: dict[str, CompiledFunction] = {}
        self._function_keys: dict[tuple[Any, ...], str] = {}
        self._runners: dict[tuple[Any, ...], Runner] = {}
        self._limits = limits
        self._traces = TraceStore(limits.trace_bytes, limits.max_traces)

    # ---- lease -------------------------------------------------------------------------

    def touch(self) -> None:
        """Renews the lease."""
        self.deadline = time.monotonic() + self.lease_seconds

    def close(self) -> None:
        """Frees everything; later calls fail with FailedPrecondition."""
        with self._lock:
            self.closed = True
            self._functions.clear()
            self._runners.clear()
            self._traces.clear()
            self._variables.clear()

    def kept_trace_bytes(self) -> int:
        """Bytes of trace arguments the session keeps (for statistics; no lock needed)."""
        return self._traces.nbytes

    def _check_open(self) -> None:
        if self.closed:
            raise errors.FailedPrecondition(f"session {self.session_id} is closed")

    # ---- graph -------------------------------------------------------------------------

    def extend(self, nodes: Sequence[graph_pb2.NodeDef]) -> list[GraphNode]:
        """Adds nodes (all or none); returns the accepted node for each requested name."""
        with self._lock:
            self._check_open()
            plan = self._graph.plan_extend(list(nodes))
            created: dict[str, tf.Variable] = {}
            with tf.init_scope():
                for node in plan.new_nodes:
                    if node.op == VARIABLE:
                        value = node.initial_value
                        if value is None:  # made here, never shipped: zeros until initialized
                            attrs = node.tf_def.attr
                            value = tf.zeros(tf.TensorShape(attrs["shape"].shape),
                                             tf.as_dtype(attrs["dtype"].type))
                        created[node.name] = tf.Variable(value, name=node.name.replace("/", "_"))
            self._graph.commit(plan)
            self._variables.update(created)
            return [self._graph.nodes[name] for name in plan.requested]

    def variable_value(self, name: str) -> np.ndarray[Any, Any]:
        """The current value of a variable node (for tests and tools)."""
        with self._lock:
            self._check_open()
            if name not in self._variables:
                raise errors.NotFound(f"no variable node {name!r}")
            return self._variables[name].numpy()  # type: ignore[no-any-return]

    # ---- functions ---------------------------------------------------------------------

    def construct(
        self, params: Sequence[str], inputs: Sequence[str], output: str, accumulators: Sequence[str]
    ) -> CompiledFunction:
        """Builds (or returns the identical existing) function."""
        key = (tuple(params), tuple(inputs), output, tuple(accumulators))
        with self._lock:
            self._check_open()
            existing = self._function_keys.get(key)
            if existing is not None:
                return self._functions[existing]
            function_id = f"f{len(self._functions) + 1}"
            fn = CompiledFunction(function_id, self._graph, self._variables, params, inputs, output,
                                  accumulators)
            self._functions[function_id] = fn
            self._function_keys[key] = function_id
            return fn

    def _function(self, function_id: str) -> CompiledFunction:
        fn = self._functions.get(function_id)
        if fn is None:
            raise errors.NotFound(f"session {self.session_id} has no function {function_id!r}")
        return fn

    def generate(
        self, function_id: str, args: Sequence[np.ndarray[Any, Any]], keep_trace: bool
    ) -> tuple[np.ndarray[Any, Any], int]:
        """Runs forward; returns the return value and a trace handle (0 unless kept)."""
        with self._lock:
            self._check_open()
            fn = self._function(function_id)
            fn.check_args(args)
            tensors = tuple(tf.constant(a) for a in args)
            retval = fn.forward(tensors).numpy()
            handle = 0
            if keep_trace:
                nbytes = sum(int(a.nbytes) for a in args)
                handle = self._traces.put(TraceRecord(function_id, tensors, tuple(retval.shape), nbytes))
            return retval, handle

    def drop_trace(self, handle: int) -> None:
        """Forgets a kept trace (used when its Generate reply could not be sent)."""
        with self._lock:
            self._traces.drop(handle)

    def gradients(
        self,
        function_id: str,
        trace_handle: int,
        args: Sequence[np.ndarray[Any, Any]],
        retval_grad: np.ndarray[Any, Any],
        scale_factor: float | None,
        skip_arg_grads: bool = False,
    ) -> list[np.ndarray[Any, Any]]:
        """Argument gradients; with ``scale_factor`` set, also accumulates parameter gradients
        (and, with ``skip_arg_grads``, returns no argument gradients)."""
        with self._lock:
            self._check_open()
            fn = self._function(function_id)
            if trace_handle:
                record = self._traces.get(trace_handle, function_id)
                tensors, retval_shape = record.args, record.retval_shape
            else:
                fn.check_args(args)
                tensors, retval_shape = tuple(tf.constant(a) for a in args), None
            fn.check_retval_grad(retval_grad, retval_shape)
            grad = tf.constant(retval_grad)
            try:
                if scale_factor is None:
                    out = fn.vjp(tensors, grad)
                else:
                    out = fn.accumulate(tensors, grad, scale_factor, with_args=not skip_arg_grads)
            except tf.errors.InvalidArgumentError as exc:
                raise errors.InvalidArgument(f"function {function_id}: {exc.message}") from None
            return [g.numpy() for g in out]

    # ---- runs --------------------------------------------------------------------------

    def run(
        self,
        feeds: dict[str, np.ndarray[Any, Any]],
        fetches: Sequence[str],
        targets: Sequence[str],
        max_result_bytes: int | None = None,
    ) -> list[np.ndarray[Any, Any]]:
        """Feeds, runs targets, returns fetched values (one compiled function per signature).

        All or nothing: when TensorFlow fails during the run, or the fetched values exceed
        ``max_result_bytes``, every variable the run may have written is restored.
        """
        names = sorted(feeds)
        key = (tuple(names), tuple(fetches), tuple(targets))
        with self._lock:
            self._check_open()
            runner = self._runners.get(key)
            if runner is None:
                runner = Runner(self._graph, self._variables, names, fetches, targets)
                if len(self._runners) >= self._limits.max_runners:
                    self._runners.pop(next(iter(self._runners)))
                self._runners[key] = runner
            values = []
            for name, spec in runner.feed_specs:
                check_value(feeds[name], spec.dtype, spec.shape, f"feed {name!r}")
                values.append(tf.constant(feeds[name]))
            # Reads of resource variables are snapshots (TensorFlow copies on write).
            snapshot = [(v, v.read_value()) for v in runner.written]
            try:
                # np.asarray: a scalar string (a serialized Summary) comes back as bytes.
                results = [np.asarray(t.numpy(), dtype=object if t.dtype == tf.string else None)
                           for t in runner(values)]
            except tf.errors.OpError as exc:
                _restore(snapshot)
                if isinstance(exc, tf.errors.InvalidArgumentError):
                    raise errors.InvalidArgument(f"run: {exc.message}") from None
                raise
            size = sum(int(r.nbytes) for r in results)
            if max_result_bytes is not None and size > max_result_bytes:
                _restore(snapshot)
                raise errors.ResourceExhausted(
                    f"run: the fetched values take {size} bytes, over the worker's message cap "
                    f"({max_result_bytes} bytes); nothing was changed")
            return results


def _restore(snapshot: list[tuple[tf.Variable, Any]]) -> None:
    for variable, value in snapshot:
        variable.assign(value)
