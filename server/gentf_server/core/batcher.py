"""The dynamic batcher: concurrent calls of one row-independent function, one TensorFlow call.

With ``--max-batch-delay-us N`` (N > 0), calls of a function declared ``batched=True`` (row i
of its output depends only on row i of its inputs) that reach one session at the same time
are merged: their arguments are concatenated along the leading (row) dimension, the
function runs once, and each caller gets exactly its own rows back. Like Triton's dynamic
batcher, it trades a bounded wait for fewer, larger TensorFlow calls.

Which calls merge (each only with calls of the same kind, session and function):

- ``Generate``: the return value is split by rows; with ``keep_trace`` each caller gets its
  own trace handle whose record holds exactly its own arguments, so later gradient calls on
  it are exact.
- ``ChoiceGradients``: the argument gradients are split by rows.
- ``AccumulateParamGradients`` with the same scale factor and the same ``skip_arg_grads``:
  the parameter gradient of the concatenated rows is the sum of the callers' parameter
  gradients (row independence), so one ``scale * gradient`` is added to the accumulators;
  argument gradients are split by rows. Request ids keep their at-most-once meaning: a
  call whose id was applied before runs on its own, and every merged id is marked applied
  with the merged accumulation, under the session's lock.

Callers whose argument dtypes or shapes beyond the leading dimension differ never merge.

How a batch forms: the first caller to arrive becomes the batch's *leader*; later ones wait.
The leader closes the window when ``max_delay_us`` has passed since the oldest waiting call
arrived, when the waiting calls hold ``max_rows`` rows, or when every caller known to be
active is waiting (the window then has nobody left to wait for: a lone caller never waits).
"Known to be active" is the most callers of this function seen inside the batcher at once
in the last half second. The leader then takes the session's lock (calls that arrive while
it waits for the lock join the batch, up to ``max_rows`` rows), runs the merged call, and
hands each caller its part. A caller over ``max_rows`` rows on its own is never merged.

Failures never spread: a caller whose request is invalid (wrong dtype or shape, a dropped
trace handle) is not merged; when the merged TensorFlow call fails, nothing was changed and
every caller of the batch runs alone, exactly as without the batcher, so each gets its own
result or its own error. Calls made while the calling thread holds the session's lock (the
calls of a Batch inside a transaction) are never merged.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from gentf_server.core import errors
from gentf_server.core.tensors import to_numpy, to_tensor
from gentf_server.core.traces import TraceRecord

__all__ = ["DEFAULT_MAX_ROWS", "BatchPolicy", "Batcher"]

DEFAULT_MAX_ROWS = 1024
"""The default cap on the rows of one merged call (``--max-batch-rows``)."""

_PEAK_WINDOW = 0.25
"""Seconds per bucket of the concurrency estimate (two buckets are remembered)."""

_FORGET_AFTER = 30.0
"""Seconds after which an unused queue (its concurrency history) is dropped."""

_PENDING, _TAKEN, _DONE, _ALONE = 0, 1, 2, 3
"""A call's state: waiting, in a batch being run, answered, to run alone."""


@dataclasses.dataclass(frozen=True)
class BatchPolicy:
    """When calls merge: ``max_delay_us`` (0: never) is the longest a call waits for others;
    ``max_rows`` caps the rows of one merged call."""

    max_delay_us: int = 0
    max_rows: int = DEFAULT_MAX_ROWS

    @property
    def enabled(self) -> bool:
        """Whether the batcher merges calls at all."""
        return self.max_delay_us > 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | BatchPolicy | None) -> BatchPolicy:
        """The policy from a session process's configuration (``{"max_delay_us": N,
        "max_rows": M}``, missing keys take their defaults); None: batching off."""
        if config is None:
            return cls()
        if isinstance(config, BatchPolicy):
            return config
        return cls(max_delay_us=int(config.get("max_delay_us", 0)),
                   max_rows=int(config.get("max_rows", DEFAULT_MAX_ROWS)))


class _Entry:
    """One waiting call."""

    __slots__ = ("args", "arrived", "grad", "keep_trace", "request_id", "result", "rows",
                 "state", "trace_handle")

    def __init__(self, args: Sequence[np.ndarray[Any, Any]], rows: int, trace_handle: int = 0,
                 grad: np.ndarray[Any, Any] | None = None, keep_trace: bool = False,
                 request_id: int = 0) -> None:
        self.args = args
        self.trace_handle = trace_handle
        self.grad = grad
        self.keep_trace = keep_trace
        self.request_id = request_id
        self.rows = rows
        self.arrived = time.monotonic()
        self.state = _PENDING
        self.result: Any = None


class _Queue:
    """The waiting calls of one (session, kind, function, scale, argument gradients) key."""

    __slots__ = ("bucket_start", "inside", "leading", "peak", "pending", "previous_peak",
                 "running", "used")

    def __init__(self) -> None:
        self.pending: list[_Entry] = []
        self.leading = False
        self.running = 0
        self.inside = 0
        self.peak = 0
        self.previous_peak = 0
        self.bucket_start = time.monotonic()
        self.used = self.bucket_start

    def arrive(self, now: float) -> None:
        self.inside += 1
        self.used = now
        elapsed = now - self.bucket_start
        if elapsed > _PEAK_WINDOW:
            self.previous_peak = self.peak if elapsed < 2 * _PEAK_WINDOW else 0
            self.peak = 0
            self.bucket_start = now
        self.peak = max(self.peak, self.inside)

    def expected(self) -> int:
        """How many callers are likely active: the recent peak of callers inside at once."""
        return max(self.peak, self.previous_peak)


class Batcher:
    """Merges concurrent calls of batched functions (see the module docstring); one per
    Dispatcher, serving every session of the process. With batching off, every method
    leaves the call to its normal path."""

    def __init__(self, policy: BatchPolicy | None = None) -> None:
        self.policy = policy or BatchPolicy()
        self._delay = self.policy.max_delay_us / 1e6
        self._cond = threading.Condition(threading.Lock())
        self._queues: dict[tuple[Any, ...], _Queue] = {}
        self._last_prune = time.monotonic()
        self.batches = 0
        """Merged TensorFlow calls run (each served two or more callers)."""
        self.batched_calls = 0
        """Calls answered from a merged TensorFlow call."""
        self.alone_calls = 0
        """Calls that waited in the batcher but then ran on their own (nobody to merge
        with, an invalid request, a merged call that failed)."""

    def stats(self) -> dict[str, int]:
        """Counters since the process started: ``batches``, ``batched_calls``, ``alone_calls``."""
        with self._cond:
            return {"batches": self.batches, "batched_calls": self.batched_calls,
                    "alone_calls": self.alone_calls}

    # ---- entry points --------------------------------------------------------------------

    def generate(self, session: Any, function_id: str, args: Sequence[np.ndarray[Any, Any]],
                 keep_trace: bool) -> tuple[np.ndarray[Any, Any], int]:
        """``session.generate(function_id, args, keep_trace)``, merged with concurrent calls
        of the same batched function when the policy allows: (return value, trace handle)."""
        rows = self._rows(session, function_id, args)
        if rows is not None:
            entry = _Entry(args, rows, keep_trace=keep_trace)
            key = (session.session_id, "forward", function_id)

            def run(session: Any, batch: list[_Entry]) -> None:
                self._run_forward(session, function_id, batch)

            if self._submit(key, entry, session, run):
                return entry.result  # type: ignore[no-any-return]
        return session.generate(function_id, args, keep_trace)  # type: ignore[no-any-return]

    def gradients(self, session: Any, function_id: str, trace_handle: int,
                  args: Sequence[np.ndarray[Any, Any]], grad: np.ndarray[Any, Any],
                  scale: float | None, skip_arg_grads: bool,
                  request_id: int) -> list[np.ndarray[Any, Any]] | None:
        """The argument gradients of a ChoiceGradients (``scale`` None) or
        AccumulateParamGradients call (none with ``skip_arg_grads``), computed in a merged
        call; None when the call was not merged and must take its normal path (which then
        reports its errors and applies request ids as always)."""
        if scale is not None and not math.isfinite(scale):
            return None
        if grad.dtype == object or grad.ndim < 1:
            return None
        if trace_handle:
            if not self._mergeable(session, function_id):
                return None
            rows = int(grad.shape[0])
            if rows > self.policy.max_rows:
                return None
        else:
            found = self._rows(session, function_id, args)
            if found is None or found != grad.shape[0]:
                return None
            rows = found
        with_args = not (scale is not None and skip_arg_grads)
        kind = "vjp" if scale is None else "accumulate"
        entry = _Entry(args, rows, trace_handle=trace_handle, grad=grad,
                       request_id=request_id if scale is not None else 0)
        key = (session.session_id, kind, function_id, scale, with_args)

        def run(session: Any, batch: list[_Entry]) -> None:
            self._run_gradients(session, function_id, batch, scale, with_args)

        if self._submit(key, entry, session, run):
            return entry.result  # type: ignore[no-any-return]
        return None

    # ---- which calls may merge -----------------------------------------------------------

    def _mergeable(self, session: Any, function_id: str) -> bool:
        if not self.policy.enabled or session.closed:
            return False
        lock = session._lock
        if lock._is_owned():  # this thread holds the session (a Batch's transaction)
            return False
        fn = session._functions.get(function_id)
        return fn is not None and bool(fn.batched)

    def _rows(self, session: Any, function_id: str,
              args: Sequence[np.ndarray[Any, Any]]) -> int | None:
        """The call's row count when it may merge, else None."""
        if not args or not self._mergeable(session, function_id):
            return None
        rows = None
        for a in args:
            if not isinstance(a, np.ndarray) or a.ndim < 1 or a.dtype == object:
                return None
            if rows is None:
                rows = int(a.shape[0])
            elif a.shape[0] != rows:
                return None
        if rows is None or rows > self.policy.max_rows:
            return None
        return rows

    # ---- forming a batch -----------------------------------------------------------------

    def _submit(self, key: tuple[Any, ...], entry: _Entry, session: Any, run: Any) -> bool:
        """Queues ``entry`` and waits until it was answered by a merged call (True) or must
        run alone (False); the caller that finds no leader leads the next batch."""
        lead = False
        with self._cond:
            now = entry.arrived
            self._prune(now)
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue()
            queue.pending.append(entry)
            queue.arrive(now)
            self._cond.notify_all()
            while entry.state in (_PENDING, _TAKEN):
                if entry.state == _PENDING and not queue.leading:
                    queue.leading = lead = True
                    break
                self._cond.wait()
        try:
            if lead:
                self._lead(queue, entry, session, run)
        finally:
            with self._cond:
                queue.inside -= 1
                if entry.state == _ALONE:
                    self.alone_calls += 1
        return entry.state == _DONE

    def _prune(self, now: float) -> None:
        if now - self._last_prune < _FORGET_AFTER:
            return
        self._last_prune = now
        for key in [k for k, q in self._queues.items()
                    if q.inside == 0 and now - q.used > _FORGET_AFTER]:
            del self._queues[key]

    def _lead(self, queue: _Queue, me: _Entry, session: Any, run: Any) -> None:
        """Waits for the window to close, takes the session's lock and the batch, runs it;
        every call of the batch not answered then runs alone."""
        policy = self.policy
        batch: list[_Entry] = []
        try:
            with self._cond:
                while True:
                    oldest = min(e.arrived for e in queue.pending)
                    remaining = oldest + self._delay - time.monotonic()
                    rows = sum(e.rows for e in queue.pending)
                    if (remaining <= 0 or rows >= policy.max_rows
                            or len(queue.pending) + queue.running >= queue.expected()):
                        break
                    self._cond.wait(remaining)
            with session._call():  # FailedPrecondition when closed: everyone runs alone
                with self._cond:
                    batch = self._take(queue, me)
                if len(batch) > 1:
                    run(session, batch)
        except errors.CoreError:
            pass  # (a closed session, an unknown function) the normal path says so
        finally:
            with self._cond:
                if not batch:  # the lock was never taken: hand the lead on
                    queue.pending.remove(me)
                    queue.leading = False
                    batch = [me]
                elif len(batch) > 1:
                    queue.running -= len(batch)
                merged = sum(1 for e in batch if e.state == _DONE)
                if merged:
                    self.batches += 1
                    self.batched_calls += merged
                for e in batch:
                    if e.state in (_PENDING, _TAKEN):
                        e.state = _ALONE
                self._cond.notify_all()

    def _take(self, queue: _Queue, me: _Entry) -> list[_Entry]:
        """The leader's batch: itself, then the oldest waiting calls within ``max_rows``
        rows. Hands the lead on to whoever arrives next."""
        queue.pending.remove(me)
        batch, rows, rest = [me], me.rows, []
        for e in queue.pending:
            if rows + e.rows <= self.policy.max_rows:
                batch.append(e)
                rows += e.rows
            else:
                rest.append(e)
        queue.pending = rest
        queue.leading = False
        for e in batch:
            e.state = _TAKEN
        if len(batch) > 1:
            queue.running += len(batch)
        self._cond.notify_all()
        return batch

    # ---- running a batch (the session's lock held) ---------------------------------------

    def _run_forward(self, session: Any, function_id: str, batch: list[_Entry]) -> None:
        fn = session._function(function_id)
        groups: dict[tuple[Any, ...], list[tuple[_Entry, tuple[Any, ...]]]] = {}
        for e in batch:
            try:
                fn.check_args(e.args)
            except errors.CoreError:
                e.state = _ALONE
                continue
            signature = tuple((a.dtype.str, a.shape[1:]) for a in e.args)
            groups.setdefault(signature, []).append((e, tuple(to_tensor(a) for a in e.args)))
        for group in groups.values():
            if len(group) < 2:
                continue
            merged = [tf.concat([t[i] for _, t in group], axis=0) for i in range(len(group[0][1]))]
            try:
                retval = to_numpy(fn.forward(merged))
            except (tf.errors.OpError, ValueError, TypeError):
                continue
            total = sum(e.rows for e, _ in group)
            if retval.ndim < 1 or retval.shape[0] != total:
                continue  # not row-independent after all: each runs alone
            at = 0
            for e, tensors in group:
                part = retval[at: at + e.rows]
                at += e.rows
                handle = 0
                if e.keep_trace:
                    nbytes = sum(int(a.nbytes) for a in e.args)
                    handle = session._traces.put(TraceRecord(fn.function_id, tensors,
                                                             tuple(part.shape), nbytes))
                e.result = (part, handle)
                e.state = _DONE

    def _run_gradients(self, session: Any, function_id: str, batch: list[_Entry],
                       scale: float | None, with_args: bool) -> None:
        fn = session._function(function_id)
        groups: dict[tuple[Any, ...], list[tuple[_Entry, tuple[Any, ...]]]] = {}
        seen: set[int] = set()
        for e in batch:
            if e.request_id and (e.request_id in session.applied or e.request_id in seen):
                e.state = _ALONE  # a retry: the normal path applies it at most once
                continue
            try:
                if e.trace_handle:
                    record = session._traces.get(e.trace_handle, function_id)
                    tensors, retval_shape = tuple(record.args), record.retval_shape
                else:
                    fn.check_args(e.args)
                    tensors, retval_shape = tuple(to_tensor(a) for a in e.args), None
                assert e.grad is not None
                fn.check_retval_grad(e.grad, retval_shape)
            except errors.CoreError:
                e.state = _ALONE
                continue
            if not tensors or any(t.shape.rank < 1 or t.shape[0] != e.rows for t in tensors):
                e.state = _ALONE
                continue
            seen.add(e.request_id)
            signature = (tuple((t.dtype, tuple(t.shape[1:])) for t in tensors),
                         e.grad.dtype.str, e.grad.shape[1:])
            groups.setdefault(signature, []).append((e, tensors))
        for group in groups.values():
            if len(group) < 2:
                continue
            n_args = len(group[0][1])
            merged = [tf.concat([t[i] for _, t in group], axis=0) for i in range(n_args)]
            grad = to_tensor(np.concatenate([e.grad for e, _ in group], axis=0))
            try:
                if scale is None:
                    out = fn.vjp(merged, grad)
                else:
                    out = fn.accumulate(merged, grad, scale, with_args=with_args)
            except (tf.errors.OpError, ValueError, TypeError):
                continue  # nothing was added: each runs alone
            if scale is not None:
                session.changes += 1
                for e, _ in group:
                    session.applied.add(e.request_id)
            values = [to_numpy(g) for g in out]
            at = 0
            for e, _ in group:
                e.result = [v[at: at + e.rows] for v in values]
                at += e.rows
                e.state = _DONE
