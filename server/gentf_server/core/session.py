"""A worker session: one growing graph, its variables, compiled functions, runs and traces.

Every method takes the session's lock, so all TensorFlow work of a session is ordered:
two clients accumulating gradients at once lose nothing. A method that fails changes
nothing: graph growth and function construction are validated before anything is kept,
and accumulation adds only after every gradient was computed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import tensorflow as tf
from gentf.v1 import graph_pb2

from gentf_server.core import distribute, errors
from gentf_server.core.checkpoints import AppliedIds, check_restore
from gentf_server.core.checks import check_value
from gentf_server.core.functions import CompiledFunction, FusedCall, FusedStep, jit_compile
from gentf_server.core.graph import VARIABLE, GraphNode, SessionGraph, parse_input
from gentf_server.core.limits import SessionLimits
from gentf_server.core.registry import OpRegistry
from gentf_server.core.runner import Runner
from gentf_server.core.snapshots import restore, snapshot
from gentf_server.core.tensors import (
    result_view,
    scalar_float64,
    tensor_nbytes,
    to_numpy,
    to_tensor,
)
from gentf_server.core.traces import TraceRecord, TraceStore

_log = logging.getLogger("gentf_server")

__all__ = ["FusedRequest", "Session", "SessionLimits", "Transaction", "session_limits", "tf_failure"]

T = TypeVar("T")


def tf_failure(exc: tf.errors.OpError, what: str) -> errors.CoreError:
    """The core error for a TensorFlow failure while running the caller's graph on the
    caller's values: out of memory is ResourceExhausted; anything else was caused by the
    request (its graph or its values), so it is InvalidArgument."""
    kind = type(exc).__name__.removesuffix("Error")
    if isinstance(exc, tf.errors.ResourceExhaustedError):
        return errors.ResourceExhausted(f"{what}: out of memory in TensorFlow: {exc.message}")
    return errors.InvalidArgument(f"{what}: TensorFlow failed ({kind}): {exc.message}")


class Transaction:
    """What a group of calls changed, so that it can be undone (see :meth:`Session.transaction`).

    Holds a snapshot of each variable before its first write in the group (a reference to
    TensorFlow's copy-on-write value: free until the variable is written) and the trace
    handles the group kept.
    """

    def __init__(self) -> None:
        self.snapshots: dict[int, tuple[tf.Variable, Any]] = {}
        self.traces: list[int] = []

    def save(self, variables: Sequence[tf.Variable]) -> None:
        """Remembers the current value of each variable not yet saved."""
        for v, value in snapshot([v for v in variables if id(v) not in self.snapshots]):
            self.snapshots[id(v)] = (v, value)

    def restore(self) -> None:
        """Writes every saved value back."""
        restore(list(self.snapshots.values()))


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
        self._graph = SessionGraph(registry, limits)
        self._variables: dict[str, tf.Variable] = {}
        self._mirrored: dict[str, tf.Variable] = {}
        """With a mirrored strategy: each variable as created (every replica's copy); the
        primary copies are in ``_variables``."""
        self._functions: dict[str, CompiledFunction] = {}
        self._function_keys: dict[tuple[Any, ...], str] = {}
        self._runners: dict[tuple[Any, ...], Runner] = {}
        self._fused: dict[tuple[Any, ...], FusedCall] = {}
        self.fuse_batches = True
        """Whether :meth:`run_fused` fuses (False: every Batch runs call by call)."""
        self.jit_compile = jit_compile()
        """Whether fused calls compile with XLA (``--jit-compile``; a fused call XLA
        cannot run falls back to TensorFlow's kernels for good)."""
        self.save_forwards = True
        """Whether kept traces save what their parameter gradients need (``core.saved``;
        False: accumulations run the forward again)."""
        self._limits = limits
        self._traces = TraceStore(limits.trace_bytes, limits.max_traces)
        self._transaction: Transaction | None = None
        self.name = ""
        """The durable name ("" for an ephemeral session)."""
        self.named: Any = None
        """The name's checkpoint state (``core.checkpoints.NamedState``), or None."""
        self.changes = 0
        """Counts calls that wrote a variable (a checkpoint is due when it moved)."""
        self.restored_now: list[str] = []
        """The variables the last ``extend`` took from the checkpoint."""
        self.applied = AppliedIds()
        """Request ids of the calls this session applied (a retry is not applied twice)."""
        self._epoch = 0
        """Moves as every call that may write a variable starts (and at a rollback): a
        trace's saved tensors hold the variables' values of its forward, so they serve
        only the next call after the one that saved them (see :meth:`_saved`)."""
        self._left_by_fused: tuple[FusedCall, list[Any]] | None = None
        """The last call's FusedCall and the values it left in its written variables, while
        nothing else has run since (every other call clears it as it starts): the next call
        of that FusedCall is undone with them instead of reading a snapshot."""

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the session's lock (re-entrant): a group of calls nothing else interleaves."""
        with self._lock:
            yield

    def variable_tensors(self) -> dict[str, Any]:
        """Every variable's current value (copy-on-write snapshots), by node name."""
        with self._lock:
            return {name: v.read_value() for name, v in self._variables.items()}

    def assign_variables(self, values: dict[str, Any]) -> list[str]:
        """Sets the existing variables named in ``values`` (all or nothing: every dtype and
        shape is checked first); returns the names set."""
        with self._call():
            specs = [(n, v.dtype, v.shape) for n, v in self._variables.items() if n in values]
            check_restore(specs, values)
            for name, _, _ in specs:
                self._variables[name].assign(values[name])
            self.changes += 1
            return [name for name, _, _ in specs]

    # ---- lease -------------------------------------------------------------------------

    def touch(self) -> None:
        """Renews the lease."""
        self.deadline = time.monotonic() + self.lease_seconds

    def close(self) -> bool:
        """Marks the session closed and frees everything it holds; later calls fail with
        FailedPrecondition. Never waits for a call in progress: when one holds the session,
        it frees the session as it ends. Returns True when freed now."""
        self.closed = True
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._free()
        finally:
            self._lock.release()
        return True

    def _free(self) -> None:
        self._functions.clear()
        self._function_keys.clear()
        self._runners.clear()
        self._fused.clear()
        self._left_by_fused = None
        self._traces.clear()
        self._variables.clear()
        self._mirrored.clear()
        self._graph = SessionGraph(self._graph._registry, self._limits)
        self._transaction = None

    def kept_trace_bytes(self) -> int:
        """Bytes of trace arguments the session keeps (for statistics; no lock needed)."""
        return self._traces.nbytes

    def _check_open(self) -> None:
        if self.closed:
            raise errors.FailedPrecondition(f"session {self.session_id} is closed")

    def _call(self, writes: bool = True) -> _SessionCall:
        """``with self._call():`` the session's lock for one call: open sessions only; a
        session closed while the call ran is freed when the call ends. A call that
        ``writes`` (any but the opening of a transaction, whose calls enter on their own)
        forgets the values the last fused call left: they may go stale."""
        return _SessionCall(self, writes)

    def _enter_call(self, writes: bool) -> None:
        self._lock.acquire()
        try:
            self._check_open()
            if writes:
                self._left_by_fused = None
                self._epoch += 1
                self._traces.drop_saved_before(self._epoch - 1)
        except BaseException:
            self._lock.release()
            raise

    def _exit_call(self) -> None:
        try:
            if self.closed:
                self._free()
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Holds the session for a group of calls (a Batch) that may have to be undone: inside
        the block, calls record what they change in the yielded :class:`Transaction`; call its
        :meth:`Transaction.restore` (and :meth:`rollback`) to undo them."""
        with self._call(writes=False):
            self._transaction = Transaction()
            try:
                yield self._transaction
            finally:
                self._transaction = None

    def rollback(self, transaction: Transaction) -> None:
        """Undoes a transaction: variables written back, kept traces dropped."""
        with self._lock:
            self._left_by_fused = None
            self._epoch += 1
            transaction.restore()
            for handle in transaction.traces:
                self._traces.drop(handle)

    # ---- graph -------------------------------------------------------------------------

    def extend(self, nodes: Sequence[graph_pb2.NodeDef]) -> list[GraphNode]:
        """Adds nodes (all or none); returns the accepted node for each requested name."""
        with self._call():
            plan = self._graph.plan_extend(list(nodes))
            created: dict[str, tf.Variable] = {}
            mirrored: dict[str, tf.Variable] = {}
            pending = self.named.pending if self.named is not None else {}
            check_restore([(n.name, tf.as_dtype(n.tf_def.attr["dtype"].type),
                            tf.TensorShape(n.tf_def.attr["shape"].shape))
                           for n in plan.new_nodes if n.op == VARIABLE], pending)
            self.restored_now = [n.name for n in plan.new_nodes
                                 if n.op == VARIABLE and n.name in pending]
            together = distribute.colocation(plan.new_nodes, self._graph.nodes)
            with tf.init_scope(), distribute.scope():
                for node in plan.new_nodes:
                    if node.op == VARIABLE:
                        value = pending.get(node.name, node.initial_value)
                        if value is None:  # made here, never shipped: zeros until initialized
                            attrs = node.tf_def.attr
                            value = tf.zeros(tf.TensorShape(attrs["shape"].shape),
                                             tf.as_dtype(attrs["dtype"].type))
                        elif isinstance(value, np.ndarray):
                            # The shipped buffer itself (tf.constant would copy it: three
                            # copies of a big value at once instead of two)
                            value = to_tensor(value)
                        anchor = together.get(node.name, "")
                        near = mirrored.get(anchor, self._mirrored.get(anchor))
                        with distribute.colocated(near):
                            variable = tf.Variable(value, name=node.name.replace("/", "_"))
                        mirrored[node.name] = variable
                        created[node.name] = distribute.primary(variable)
            self._graph.commit(plan)
            self._variables.update(created)
            self._mirrored.update(mirrored)
            for name in self.restored_now:
                pending.pop(name, None)
            return [self._graph.nodes[name] for name in plan.requested]

    def variable_value(self, name: str) -> np.ndarray[Any, Any]:
        """The current value of a variable node (for tests and tools)."""
        with self._call():
            if name not in self._variables:
                raise errors.NotFound(f"no variable node {name!r}")
            return self._variables[name].numpy()  # type: ignore[no-any-return]

    # ---- functions ---------------------------------------------------------------------

    def construct(
        self, params: Sequence[str], inputs: Sequence[str], output: str, accumulators: Sequence[str],
        batched: bool = False,
    ) -> CompiledFunction:
        """Builds (or returns the identical existing) function; ``batched`` declares it
        row-independent (see :class:`CompiledFunction`)."""
        key = (tuple(params), tuple(inputs), output, tuple(accumulators), batched)
        with self._call():
            existing = self._function_keys.get(key)
            if existing is not None:
                return self._functions[existing]
            function_id = f"f{len(self._functions) + 1}"
            fn = CompiledFunction(function_id, self._graph, self._variables, params, inputs, output,
                                  accumulators, batched=batched, mirrored=self._mirrored)
            self._functions[function_id] = fn
            self._function_keys[key] = function_id
            return fn

    def static_reply_bytes(self, kind: str, request: Any, arg_bytes: int | None) -> int | None:
        """An upper bound of the tensor bytes one call returns, known before running it, or
        None when static shapes cannot tell. ``kind`` is ``generate``, ``gradients`` or
        ``accumulate`` (``arg_bytes``: the bytes of the call's arguments, None if held in a
        trace), or ``run``; ``request`` is the call's request message."""
        with self._lock:
            if kind == "run":
                total = 0
                for text in request.fetches:
                    name = parse_input(text)[0]
                    node = self._graph.nodes.get(name)
                    if node is None:
                        return 0  # fails before running
                    index = parse_input(text)[1]
                    if not 0 <= index < len(node.outputs):
                        return 0
                    size = _static_bytes(*node.outputs[index])
                    if size is None:
                        return None
                    total += size
                return total
            fn = self._functions.get(request.function_id)
            if fn is None:
                return 0  # fails before running
            if kind == "generate":
                return _static_bytes(fn.output_dtype, fn.output_shape)
            if kind == "accumulate" and request.skip_arg_grads:
                return _TENSOR_OVERHEAD
            if arg_bytes is None:
                record = self._traces.peek(request.trace_handle)
                if record is None:
                    return 0  # fails before running
                arg_bytes = record.nbytes
            if fn.string_inputs:
                return None
            return arg_bytes + _TENSOR_OVERHEAD * len(fn.input_specs)

    def _function(self, function_id: str) -> CompiledFunction:
        fn = self._functions.get(function_id)
        if fn is None:
            raise errors.NotFound(f"session {self.session_id} has no function {function_id!r}")
        return fn

    def generate(
        self, function_id: str, args: Sequence[np.ndarray[Any, Any]], keep_trace: bool
    ) -> tuple[np.ndarray[Any, Any], int]:
        """Runs forward; returns the return value and a trace handle (0 unless kept)."""
        with self._call():
            fn = self._function(function_id)
            fn.check_args(args)
            tensors = tuple(to_tensor(a) for a in args)
            saved: tuple[Any, ...] = ()
            try:
                if keep_trace and fn.saved is not None and self.save_forwards:
                    y, saved = fn.forward_saving(tensors)
                else:
                    y = fn.forward(tensors)
                retval = to_numpy(y)
            except tf.errors.OpError as exc:
                raise tf_failure(exc, f"function {function_id}") from None
            handle = 0
            if keep_trace:
                handle = self._keep_trace(function_id, tensors, retval, args, saved)
            return retval, handle

    def _keep_trace(self, function_id: str, tensors: tuple[Any, ...],
                    retval: np.ndarray[Any, Any], args: Sequence[np.ndarray[Any, Any]],
                    saved: tuple[Any, ...]) -> int:
        """Keeps a trace (with its saved tensors when they fit the store); its handle, or 0."""
        nbytes = sum([a.nbytes for a in args])
        saved_bytes = sum([tensor_nbytes(t) for t in saved])
        handle = self._traces.put(TraceRecord(function_id, tensors, tuple(retval.shape),
                                              nbytes, saved, saved_bytes, self._epoch))
        if handle and self._transaction is not None:
            self._transaction.traces.append(handle)
        return handle

    def _saved(self, fn: CompiledFunction, record: TraceRecord) -> bool:
        """Whether ``record``'s saved tensors can serve the call now running: the function
        saves, and no call that may write a variable started between the one that saved
        them and this one."""
        return (fn.saved is not None and self.save_forwards and bool(record.saved)
                and record.epoch == self._epoch - 1)

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
        (and, with ``skip_arg_grads``, returns no argument gradients). A non-finite
        ``scale_factor`` is InvalidArgument."""
        if scale_factor is not None and not math.isfinite(scale_factor):
            raise errors.InvalidArgument(f"scale_factor must be finite, got {scale_factor}")
        with self._call():
            fn = self._function(function_id)
            if trace_handle:
                record = self._traces.get(trace_handle, function_id)
                tensors, retval_shape = record.args, record.retval_shape
            else:
                fn.check_args(args)
                tensors, retval_shape = tuple(to_tensor(a) for a in args), None
            fn.check_retval_grad(retval_grad, retval_shape)
            grad = to_tensor(retval_grad)
            saved = record.saved if trace_handle and self._saved(fn, record) else None
            try:
                if scale_factor is None:
                    out = (fn.vjp(tensors, grad) if saved is None
                           else fn.vjp_saved(tensors, saved, grad))
                else:
                    if self._transaction is not None:
                        self._transaction.save(fn.accumulators)
                    if saved is None:
                        out = fn.accumulate(tensors, grad, scale_factor,
                                            with_args=not skip_arg_grads)
                    else:
                        out = fn.accumulate_saved(tensors, saved, grad, scale_factor,
                                                  with_args=not skip_arg_grads)
                    self.changes += 1
            except tf.errors.InvalidArgumentError as exc:
                raise errors.InvalidArgument(f"function {function_id}: {exc.message}") from None
            except tf.errors.OpError as exc:
                raise tf_failure(exc, f"function {function_id}") from None
            return [to_numpy(g) for g in out]

    # ---- runs --------------------------------------------------------------------------

    def run(
        self,
        feeds: dict[str, np.ndarray[Any, Any]],
        fetches: Sequence[str],
        targets: Sequence[str],
        finish: Callable[[list[np.ndarray[Any, Any]]], T],
    ) -> T:
        """Feeds, runs targets, and returns ``finish(fetched values)`` (one compiled function
        per signature); ``finish`` encodes the reply and checks its size.

        All or nothing: when TensorFlow fails during the run, or ``finish`` raises (a value
        that cannot be encoded, a reply over a cap), every variable the run may have
        written is restored before the error propagates.
        """
        names = sorted(feeds)
        with self._call():
            runner = self._runner(names, fetches, targets)
            values = []
            for name, spec in runner.feed_specs:
                check_value(feeds[name], spec.dtype, spec.shape, f"feed {name!r}")
                values.append(to_tensor(feeds[name]))
            if self._transaction is not None:
                self._transaction.save(runner.written)
            # Undone from a snapshot, unless it cannot fail half way (runner.atomic) and
            # has no reply to encode after writing: it then writes in place, with no copy.
            saved = [] if runner.atomic and not fetches else snapshot(runner.written)
            try:
                results = [to_numpy(t) for t in runner(values)]
                if runner.written:
                    self.changes += 1
                return finish(results)
            except tf.errors.OpError as exc:
                restore(saved)
                raise tf_failure(exc, "run") from None
            except BaseException:
                restore(saved)
                raise


    def _runner(self, names: Sequence[str], fetches: Sequence[str], targets: Sequence[str]) -> Runner:
        """The cached runner of a (sorted feed names, fetches, targets) signature."""
        key = (tuple(names), tuple(fetches), tuple(targets))
        runner = self._runners.get(key)
        if runner is None:
            runner = Runner(self._graph, self._variables, names, fetches, targets)
            if len(self._runners) >= self._limits.max_runners:
                self._runners.pop(next(iter(self._runners)))
            self._runners[key] = runner
        return runner

    # ---- fused batches -----------------------------------------------------------------

    def run_fused(self, calls: Sequence[FusedRequest]) -> list[tuple[np.ndarray[Any, Any], int]] | None:
        """Runs a Batch's calls as ONE compiled TensorFlow call, with the results of running
        them one by one: for each ``generate`` call, its (return value, trace handle), in
        order. Returns None, having changed nothing, when the calls cannot be fused or
        anything fails (a call that would fail, TensorFlow failing half way: every variable
        the fused call may have written is restored); the caller then runs them one by one,
        which reports the failure exactly as it always does.

        Fusable: ``accumulate`` by trace handle without argument gradients, ``run`` without
        fetches, ``generate``; non-string arguments and return values.
        """
        if not self.fuse_batches:
            return None
        with self._lock:
            left, self._left_by_fused = self._left_by_fused, None
            return self._run_fused(calls, left)

    def _run_fused(self, calls: Sequence[FusedRequest],
                   left: tuple[FusedCall, list[Any]] | None,
                   ) -> list[tuple[np.ndarray[Any, Any], int]] | None:
        with self._call():
            prepared = self._prepare_fused(calls)
            if prepared is None:
                return None
            key, fused, flat, forwards = prepared
            if left is not None and left[0] is fused:
                saved = list(zip(fused.written, left[1]))  # the values nothing changed since
            else:
                saved = snapshot(fused.written)
            while True:
                try:
                    outputs, after = fused(flat)
                    it = iter(outputs)
                    results = []
                    for _, _, n_saved in forwards:
                        y = next(it)
                        results.append((result_view(y), tuple([next(it) for _ in range(n_saved)])))
                    break
                except (tf.errors.OpError, ValueError, TypeError) as exc:
                    restore(saved)
                    if not fused.jit_compile:
                        return None
                    # XLA may lack a kernel: TensorFlow's own kernels next, and for good
                    # when they succeed (else the calls one by one report the failure).
                    xla_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    fused = FusedCall(fused.steps)
            if fused is not self._fused.get(key):
                _log.info("a fused call failed under XLA (%s); it runs on TensorFlow's "
                          "kernels from now on", xla_error)
                self._fused[key] = fused
            if after is not None:  # (a rollback of a transaction around this clears it)
                self._left_by_fused = (fused, after)
            if self._transaction is not None:
                for v, value in saved:
                    self._transaction.snapshots.setdefault(id(v), (v, value))
            out = []
            for (call, args, _), (retval, kept) in zip(forwards, results):
                for released in call.release:
                    self._traces.drop(released)
                handle = 0
                if call.keep_trace:
                    handle = self._keep_trace(call.function_id, args, retval, call.args, kept)
                out.append((retval, handle))
            if len(forwards) < len(calls):
                self.changes += 1  # what checkpoints watch
            return out

    def _prepare_fused(self, calls: Sequence[FusedRequest]) -> tuple[
            tuple[Any, ...], FusedCall, list[Any],
            list[tuple[FusedRequest, tuple[Any, ...], int]]] | None:
        """(cache key, fused call, flat inputs, per generate call: the call, its argument
        tensors and how many tensors its forward saves), or None when the calls are not
        fusable or one of them would fail.

        The calls' structure (their kinds and functions, the runs' feed names and targets,
        the accumulations' scale being 1 or not and whether they use their trace's saved
        tensors) is the key of a fused call traced once, whose steps then say how each
        call's values are checked and fed. An accumulation uses its trace's saved tensors
        when they are still valid; a forward kept as a trace saves tensors when no call
        after it writes."""
        if len(calls) < 2:
            return None
        structure = self._fused_structure(calls)
        if structure is None:
            return None
        key, records = structure
        fused = self._fused.get(key)
        if fused is None:
            fused = self._new_fused_call(key)
            if fused is None:
                return None
        flat: list[Any] = []
        forwards: list[tuple[FusedRequest, tuple[Any, ...], int]] = []
        released: set[int] = set()
        try:
            for call, step, record in zip(calls, fused.steps, records):
                kind = step.kind
                if kind == "run":
                    feeds = call.feeds
                    for name, spec in step.runner.feed_specs:
                        check_value(feeds[name], spec.dtype, spec.shape, f"feed {name!r}")
                        flat.append(to_tensor(feeds[name]))
                    continue
                fn = step.function
                assert fn is not None
                if record is not None:  # an accumulation
                    scale = call.scale
                    if (call.trace_handle in released or scale is None
                            or not math.isfinite(scale)):
                        return None
                    fn.check_retval_grad(call.retval_grad, record.retval_shape)
                    flat += record.args
                    if kind == "accumulate_saved":
                        flat += record.saved
                    flat.append(to_tensor(call.retval_grad))
                    flat.append(scalar_float64(scale))
                    continue
                fn.check_args(call.args)
                released.update(call.release)
                args = tuple([to_tensor(a) for a in call.args])
                flat += args
                n_saved = 0
                if kind == "forward_saving":
                    assert fn.saved is not None
                    n_saved = len(fn.saved.saved_specs)
                forwards.append((call, args, n_saved))
        except errors.CoreError:
            return None
        for call, record in zip(calls, records):  # mark the traces used, as one by one would
            if record is not None:
                self._traces.get(call.trace_handle, call.function_id)
        return key, fused, flat, forwards

    def _fused_structure(self, calls: Sequence[FusedRequest]) -> tuple[
            tuple[Any, ...], list[TraceRecord | None]] | None:
        """The calls' fused-call key (see :meth:`_prepare_fused`) and, per call, the trace
        record an accumulation reads (None for the others); None when a call is not fusable
        (fetches, an unknown or string function, no trace of the function under the
        handle)."""
        last_write = -1
        for i, call in enumerate(calls):
            if call.kind != "generate":
                last_write = i
        functions = self._functions
        key: list[Any] = []
        records: list[TraceRecord | None] = []
        for i, call in enumerate(calls):
            kind = call.kind
            record = None
            if kind == "run":
                if call.fetches:
                    return None
                key.append(("run", tuple(sorted(call.feeds)), tuple(call.targets)))
            else:
                fn = functions.get(call.function_id)
                if fn is None or fn.uses_strings:
                    return None
                if kind == "accumulate":
                    record = self._traces.peek(call.trace_handle) if call.trace_handle else None
                    if record is None or record.function_id != call.function_id:
                        return None
                    key.append(("accumulate_saved" if self._saved(fn, record) else "accumulate",
                                call.function_id, call.scale == 1.0))
                else:
                    saving = (call.keep_trace and fn.saved is not None and self.save_forwards
                              and i > last_write)
                    key.append(("forward_saving" if saving else "forward", call.function_id))
            records.append(record)
        return tuple(key), records

    def _new_fused_call(self, key: tuple[Any, ...]) -> FusedCall | None:
        """Traces the fused call of ``key`` (see :meth:`_fused_structure`) and keeps it; None
        when it cannot be traced (the calls one by one will say why)."""
        steps = []
        try:
            for part in key:
                if part[0] == "run":
                    steps.append(FusedStep("run", runner=self._runner(part[1], [], part[2])))
                elif part[0].startswith("accumulate"):
                    steps.append(FusedStep(part[0], function=self._functions[part[1]],
                                           unit_scale=part[2]))
                else:
                    steps.append(FusedStep(part[0], function=self._functions[part[1]]))
            fused = FusedCall(steps, jit_compile=self.jit_compile)
        except Exception:  # noqa: BLE001  (not fusable after all: one by one will tell)
            return None
        if len(self._fused) >= self._limits.max_runners:
            self._fused.pop(next(iter(self._fused)))
        self._fused[key] = fused
        return fused


class _SessionCall:
    """The context of :meth:`Session._call` (a class: a generator's context manager costs
    a few times more on every call)."""

    __slots__ = ("_session", "_writes")

    def __init__(self, session: Session, writes: bool) -> None:
        self._session = session
        self._writes = writes

    def __enter__(self) -> None:
        self._session._enter_call(self._writes)

    def __exit__(self, *exc: object) -> None:
        self._session._exit_call()


@dataclasses.dataclass(slots=True)
class FusedRequest:
    """One call of a Batch for :meth:`Session.run_fused`: ``kind`` is ``"generate"``
    (``function_id``, ``args``, ``keep_trace``, ``release``: handles dropped before it),
    ``"accumulate"`` (``function_id``, ``trace_handle``, ``retval_grad``, ``scale``; no
    argument gradients) or ``"run"`` (``feeds``, ``fetches``, ``targets``)."""

    kind: str
    function_id: str = ""
    args: Sequence[np.ndarray[Any, Any]] = ()
    keep_trace: bool = False
    release: Sequence[int] = ()
    trace_handle: int = 0
    retval_grad: Any = None
    scale: float | None = None
    feeds: dict[str, np.ndarray[Any, Any]] = dataclasses.field(default_factory=dict)
    fetches: Sequence[str] = ()
    targets: Sequence[str] = ()


_TENSOR_OVERHEAD = 96
"""Bytes a Tensor message adds to its elements in a reply (dtype, shape, tags, lengths)."""


def _static_bytes(dtype: tf.DType, shape: tf.TensorShape) -> int | None:
    """Encoded size bound of a tensor of static ``shape``; None when not fully known."""
    if dtype == tf.string or not shape.is_fully_defined():
        return None
    elements = 1
    for d in shape.as_list():
        elements *= int(d)
    return elements * dtype.size + _TENSOR_OVERHEAD + 11 * len(shape)

