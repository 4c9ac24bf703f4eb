"""``tf.Session``: a session on a worker, bound to one client graph.

The session sends the graph's new nodes to the worker before anything needs them (one
ExtendGraph call, only when nodes were added), then runs, fetches and builds functions
there. Without an address it connects to ``$GENTF_ADDRESS``, else to an embedded local
worker it starts on loopback.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import re
import secrets
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gentf.errors import (
    AbortedError,
    FailedPreconditionError,
    GentfError,
    NotFoundError,
    WireVersionError,
)
from gentf.graph._core import Graph, Operation, Tensor, get_default_graph
from gentf.graph._registry import registry
from gentf.graph._variables import Variable
from gentf.graph._worker import WorkerLink, set_worker_link
from gentf.remote._embedded import embedded_worker
from gentf.remote._transport import BATCH_FIELDS, Transport, request_tensors
from gentf.v1 import worker_pb2
from gentf.wire import WIRE_VERSION, decode_tensor, fill_request_tensor
from gentf.wire._blobs import hold_again, hold_outgoing, take_outgoing
from gentf.wire._dtypes import DType
from gentf.wire._errors import TraceNotFoundError

__all__ = ["InteractiveSession", "Session", "get_default_session",
           "prepare_value", "session_for_graph"]


def prepare_value(value: Any, dtype: DType, what: str) -> np.ndarray[Any, Any]:
    """``value`` as an array of ``dtype`` when the conversion keeps its kind (float64 ->
    float32, int -> float); otherwise unchanged, for the worker to reject with a message
    naming ``what``."""
    if dtype.name == "string":
        return np.asarray(value, dtype=object)
    arr = np.asarray(value)
    target = dtype.as_numpy_dtype
    if arr.dtype != target and np.can_cast(arr.dtype, target, casting="same_kind"):
        arr = arr.astype(target)
    return arr


def _root_certificates(value: bytes | str | None) -> bytes | None:
    """PEM root certificates from bytes, a file path, or ``$GENTF_TLS_CA`` (None: no TLS)."""
    if value is None:
        value = os.environ.get("GENTF_TLS_CA") or None
    if value is None or isinstance(value, bytes):
        return value
    try:
        with open(value, "rb") as f:
            return f.read()
    except OSError as exc:
        raise FileNotFoundError(f"root certificates {value!r} (root_certificates or "
                                f"$GENTF_TLS_CA): {exc.strerror}") from None


def _check_wire_version(info: Any, address: str) -> None:
    """WireVersionError unless this client speaks a revision the worker serves."""
    if info.min_client_wire_version > WIRE_VERSION:
        raise WireVersionError(
            f"the worker at {address} speaks gentf wire revision {info.wire_version} and serves "
            f"clients of revision {info.min_client_wire_version} or later; this client speaks "
            f"revision {WIRE_VERSION}: upgrade gentf here", "FAILED_PRECONDITION")


def _wants_direct(direct: bool | None) -> bool:
    """``direct``; when None, what ``$GENTF_DIRECT`` says (0, false, no, off: no; any other
    value: yes); when that is unset too, yes."""
    if direct is not None:
        return direct
    value = os.environ.get("GENTF_DIRECT")
    if value is None or not value.strip():
        return True
    return value.strip().lower() not in ("0", "false", "no", "off")


class Session:
    """``tf.Session(address=None, graph=None)``: runs a client graph on a worker.

    ``address`` is ``"host:port"`` (a ``grpc://`` prefix is accepted); ``None`` uses
    ``$GENTF_ADDRESS``, else starts an embedded worker on loopback. ``token`` (default
    ``$GENTF_TOKEN``) is the bearer token a worker started with ``--token-file`` needs;
    ``root_certificates`` (PEM bytes, or a PEM file's path; default the file named by
    ``$GENTF_TLS_CA``) makes the connection TLS, checked against those roots. The first
    session created becomes the default session. Use as a context manager to close it.

    Raises UnauthenticatedError when the worker refuses the token, WireVersionError when
    the worker's protocol revision and this client's cannot talk.

    ``name`` (``[A-Za-z0-9._-]{1,64}``) makes the session durable on a worker started with
    ``--state-dir``: its variables are checkpointed there, a session of the same name (of
    the same token) restores them, and when the worker restarts on the same address this
    object's next call re-creates the session, re-sends its graph and functions, and goes
    on from the latest checkpoint. :meth:`close` keeps the checkpoints, :meth:`delete`
    removes them. ``restored_from`` is the checkpoint the session started from ("" if none).

    ``direct`` sends the session's calls straight to its session process when the worker
    offers that (``--direct-port`` or ``--advertise-host``), skipping the front door's relay,
    big tensors included; sessions, leases and checkpoints still go through the front door,
    and so does every call after the process cannot be reached (a connection that does not
    open within 5 s counts). Default: ``$GENTF_DIRECT`` (``0``: no; ``1``: yes); unset, yes.
    """

    def __init__(self, address: str | None = None, graph: Graph | None = None, config: Any = None,
                 *, lease_seconds: float = 0.0, timeout: float = 300.0, token: str | None = None,
                 root_certificates: bytes | str | None = None, name: str | None = None,
                 direct: bool | None = None) -> None:
        del config  # TensorFlow's ConfigProto: devices and threads are the worker's business
        if name is not None and (not _NAME.fullmatch(name) or name in (".", "..")):
            raise ValueError(f"session name {name!r} is not valid: use 1 to 64 of A-Z a-z 0-9 "
                             f". _ - (not '.' or '..')")
        self.name = name or ""
        self._lease_request = lease_seconds
        self.epoch = 0
        """Counts re-creations of the worker session (trace handles of an older epoch are void)."""
        self._functions: weakref.WeakSet[Any] = weakref.WeakSet()
        address, token = default_worker(address, token)
        self.address = address
        self.graph = graph if graph is not None else get_default_graph()
        self._transport = Transport(address, timeout=timeout, token=token,
                                    root_certificates=_root_certificates(root_certificates),
                                    graph=self.graph)
        info = self._transport.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest(),
                                    wait_for_ready=True, timeout=min(timeout, 120.0))
        _check_wire_version(info, address)
        self.worker_info = info
        registry().ensure(info.registry_fingerprint, lambda: self._transport.call(
            "GetOpRegistry", worker_pb2.GetOpRegistryRequest()))
        reply = self._transport.call("CreateSession", worker_pb2.CreateSessionRequest(
            lease_seconds=lease_seconds, name=self.name, routes_direct_calls=True))
        self.restored_from: str = reply.restored_from
        self.session_id: str = reply.session_id
        self.lease_seconds: float = reply.lease_seconds
        self.direct = _wants_direct(direct)
        """Whether this session's calls go straight to its session process when offered."""
        if self.direct:
            self._transport.use_direct(reply.direct_address, reply.direct_route)
        self._sent: set[str] = set()
        self._pending: list[tuple[str, Any, Any]] = []
        # Re-entrant: a garbage trace's release (TFTrace.__del__, run by a collection that
        # any allocation may start) can come while this thread holds it.
        self._pending_lock = threading.RLock()
        self._released: list[int] = []
        _OPEN_SESSIONS.add(self)
        self._sync_lock = threading.RLock()
        self._entered: list[Session | None] = []
        self.closed = False
        if _DEFAULT.session is None:
            _DEFAULT.session = self

    # ---- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Closes the worker session (idempotent); variables and functions are freed."""
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self._close_worker_session()

    def delete(self) -> None:
        """Closes a named session and deletes its checkpoints (the name is free again)."""
        if self.closed:
            raise FailedPreconditionError(f"session {self.session_id} is closed")
        try:
            self.flush()
        finally:
            self.closed = True
            try:
                self._invoke("CloseSession", worker_pb2.CloseSessionRequest(
                    session_id=self.session_id, delete_checkpoints=True))
            finally:
                self._close_worker_session()

    def checkpoint(self) -> str:
        """Saves a named session's variables now; returns the checkpoint's path (a prefix that
        ``tf.train.load_checkpoint`` of real TensorFlow reads on the worker's host)."""
        return str(self.call("Checkpoint", worker_pb2.CheckpointRequest(
            session_id=self.session_id)).path)

    def restore(self, path: str = "") -> str:
        """Sets the session's variables from its latest checkpoint (or ``path``); returns the
        checkpoint used."""
        return str(self.call("RestoreCheckpoint", worker_pb2.RestoreCheckpointRequest(
            session_id=self.session_id, path=path)).path)

    def _close_worker_session(self) -> None:
        was_closed, self.closed = self.closed, True
        try:
            if not was_closed or not self.name:
                self._transport.call("CloseSession", worker_pb2.CloseSessionRequest(
                    session_id=self.session_id), timeout=10)
        except Exception as exc:  # noqa: BLE001 - the worker may already be gone
            _log.debug("closing session %s: %s", self.session_id, exc)
        finally:
            self._transport.close()
            if _DEFAULT.session is self:
                _DEFAULT.session = None

    def __enter__(self) -> Session:  # noqa: PYI034 - Session is not meant to be subclassed
        """``with tf.Session() as sess:`` makes ``sess`` the default session inside the block
        (as TensorFlow 1 does) and closes it at the end."""
        self._entered.append(_DEFAULT.session)
        _DEFAULT.session = self
        return self

    def __exit__(self, *exc: object) -> None:
        previous = self._entered.pop() if self._entered else None
        try:
            self.close()
        finally:
            if _DEFAULT.session is self or _DEFAULT.session is None:
                _DEFAULT.session = previous if previous is not None and not previous.closed else None

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Session]:
        """Makes this the default session inside the ``with`` block."""
        previous = _DEFAULT.session
        _DEFAULT.session = self
        try:
            yield self
        finally:
            _DEFAULT.session = previous

    def renew_lease(self) -> float:
        """Renews the lease; returns its length in seconds."""
        reply = self.call("RenewLease", worker_pb2.RenewLeaseRequest(session_id=self.session_id))
        return float(reply.lease_seconds)

    # ---- calls -------------------------------------------------------------------------

    def call(self, method: str, request: Any, trace_args: Sequence[Any] | None = None) -> Any:
        """Calls a worker RPC for this session (raises gentf exceptions).

        Deferred calls (see :meth:`defer`) travel with it in one Batch, ahead of it; if one
        of them fails, its error is raised here and this call does not run. ``trace_args``:
        for a gradient call by trace handle, the trace's arguments (sent instead of the
        handle when the worker session had to be re-created).
        """
        try:
            if self.closed:
                raise FailedPreconditionError(f"{method}: session {self.session_id} is closed")
            _give_request_id(method, request)
            if method not in BATCH_FIELDS:
                self.flush()
                return self._invoke(method, request, trace_args)
            pending = self._take_pending()
            if not pending:
                return self._invoke(method, request, trace_args)
            return self._send_batch([*pending, (method, request, trace_args)])[-1]
        except BaseException:
            self._transport.discard_held(method, request)  # not sent: its held tensors go
            raise

    def _invoke(self, method: str, request: Any, trace_args: Sequence[Any] | None = None) -> Any:
        """One call; for a named session whose worker session is gone (the worker
        restarted), re-creates it (see :meth:`_recover`) and sends the call again."""
        try:
            return self._transport.call(method, request)
        except (NotFoundError, AbortedError) as exc:
            if not self._lost(exc):
                raise
        old = self.session_id
        functions = self._recover()
        _rewrite(request, old, self.session_id, functions, trace_args)
        return self._transport.call(method, request)

    def _lost(self, exc: GentfError) -> bool:
        """True when ``exc`` says this named session's worker session no longer exists."""
        if not self.name or self.closed:
            return False
        text = exc.details or ""
        return self.session_id in text and ("no session" in text or "process died" in text)

    def _recover(self) -> dict[str, str]:
        """Re-creates the named worker session (the worker restores it from its latest
        checkpoint), re-sends every node sent before and every function, runs the
        initializers of variables the checkpoint did not hold; returns old -> new function
        ids. In-flight requests and deferred calls are rewritten by the caller."""
        with self._sync_lock:
            old = self.session_id
            reply = self._transport.call("CreateSession", worker_pb2.CreateSessionRequest(
                lease_seconds=self._lease_request, name=self.name, routes_direct_calls=True))
            self.session_id = reply.session_id
            self.restored_from = reply.restored_from
            if self.direct:
                self._transport.use_direct(reply.direct_address, reply.direct_route)
            self.epoch += 1
            _log.warning("session %s: the worker lost it; re-created as %s from %s", self.name,
                         reply.session_id, reply.restored_from or "no checkpoint")
            with self._pending_lock:
                self._released.clear()
            sent, self._sent = self._sent, set()
            inits = self._extend(sent)
            if inits:
                self._transport.call("RunOp", worker_pb2.RunOpRequest(
                    session_id=self.session_id, targets=[op.name for op in inits]))
            functions: dict[str, str] = {}
            for fn in list(self._functions):
                request = fn.construct_request()
                functions[fn.function_id] = self._transport.call("Construct", request).function_id
                fn.function_id = functions[fn.function_id]
            with self._pending_lock:
                for _, pending, args in self._pending:
                    _rewrite(pending, old, self.session_id, functions, args)
            return functions

    def register_function(self, fn: Any) -> None:
        """Remembers a TFFunction of this session, re-built (``fn.construct_request()``)
        when the worker session is re-created."""
        self._functions.add(fn)

    def defer(self, method: str, request: Any, trace_args: Sequence[Any] | None = None) -> None:
        """Queues a call whose reply nobody waits for (``Generate``, ``ChoiceGradients``,
        ``AccumulateParamGradients`` or ``RunOp``); it is sent, in order, with this session's
        next call or :meth:`flush` (or once ``MAX_DEFERRED_CALLS`` are queued). Its errors surface there. ``trace_args``: for a gradient
        call by trace handle, the trace's arguments, resent if the worker dropped the trace."""
        if method not in BATCH_FIELDS:
            raise ValueError(f"{method} cannot be deferred; deferrable: {sorted(BATCH_FIELDS)}")
        if self.closed:
            self._transport.discard_held(method, request)
            raise FailedPreconditionError(f"{method}: session {self.session_id} is closed")
        _give_request_id(method, request)
        _copy_held(method, request)  # the caller may reuse its arrays before this is sent
        with self._pending_lock:
            self._pending.append((method, request, trace_args))
            full = len(self._pending) >= MAX_DEFERRED_CALLS
        if full:  # back-pressure: a caller that only defers still waits for the worker
            self.flush()

    def release_trace(self, handle: int, epoch: int | None = None) -> None:
        """Notes that the trace ``handle`` is garbage; the next ``Generate`` tells the worker
        (safe from a garbage collector's finalizer in any thread). A handle of an older
        ``epoch`` (a worker session since re-created) is ignored."""
        with self._pending_lock:
            if epoch is None or epoch == self.epoch:
                self._released.append(handle)

    def take_released_traces(self) -> list[int]:
        """The trace handles noted by :meth:`release_trace` since the last call (now cleared)."""
        with self._pending_lock:
            released, self._released = self._released, []
        return released

    def flush(self) -> None:
        """Sends the deferred calls now (one round trip; nothing when there are none)."""
        pending = self._take_pending()
        if pending:
            self._send_batch(pending)

    def _take_pending(self) -> list[tuple[str, Any, Any]]:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        return pending

    def _send_batch(self, calls: list[tuple[str, Any, Any]]) -> list[Any]:
        """Runs ``calls`` in one Batch; returns their replies. A deferred gradient call whose
        trace the worker dropped is resent with its arguments, from that call on."""
        every_call = list(calls)
        try:
            return self._send_batch_calls(calls)
        finally:  # the calls' own held tensors (their Batch copies held them again)
            for method, inner, _ in every_call:
                self._transport.discard_held(method, inner)

    def _send_batch_calls(self, calls: list[tuple[str, Any, Any]]) -> list[Any]:
        """:meth:`_send_batch`'s loop: each attempt sends a fresh copy of the calls."""
        replies: list[Any] = []
        while True:
            request = worker_pb2.BatchRequest(session_id=self.session_id)
            for method, inner, _ in calls:
                getattr(request.calls.add(), BATCH_FIELDS[method]).CopyFrom(inner)
            for t in request_tensors("Batch", request):
                # the copy is sent (and its held buffers taken); a resend copies the calls again
                again = hold_again(t.blob_id) if t.blob_id else None
                if again is not None:
                    t.blob_id = again
            try:
                reply = self._transport.call("Batch", request)
            except TraceNotFoundError as exc:
                k = exc.failed_call
                if k is None or not _resend_arguments(calls[k][1], calls[k][2]):
                    raise
                replies.extend(_unwrap(r) for r in _partial_results(k))
                calls = calls[k:]
                continue
            except (NotFoundError, AbortedError) as exc:
                if not self._lost(exc):
                    raise
                old = self.session_id
                functions = self._recover()
                for _, inner, args in calls:
                    _rewrite(inner, old, self.session_id, functions, args)
                continue
            except GentfError as exc:
                k = exc.failed_call
                if k is not None and k < len(calls) - 1:
                    exc.details = (f"a deferred {calls[k][0]} call failed (the calls after it did "
                                   f"not run): {exc.details}")
                    exc.args = (f"{exc.code}: {exc.details}",)
                raise
            replies.extend(_unwrap(r) for r in reply.results)
            return replies

    def sync(self, roots: Sequence[Operation] | None = None) -> None:
        """Sends the worker the nodes it has not seen: those ``roots`` need (with their
        ancestors), or every node of the graph when ``roots`` is None. No call is made when
        there is nothing to send. A node the worker rejects is not sent again by requests
        that do not need it.
        """
        with self._sync_lock:
            if roots is not None and all(op.name in self._sent for op in roots):
                return
            needed = self._unsent_ancestors(roots)
            if not needed:
                return
            inits = self._extend(needed)
            if inits:  # travels ahead of this session's next call, in the same round trip
                self.defer("RunOp", worker_pb2.RunOpRequest(session_id=self.session_id,
                                                            targets=[op.name for op in inits]))

    def _extend(self, needed: set[str]) -> list[Operation]:
        """Sends the nodes ``needed`` (and their variables' initializers); returns the
        initializers to run: those of variables the worker did not restore."""
        pairs = self._initializers(needed)
        new = [op for op in self.graph.operations if op.name in needed]
        request = worker_pb2.ExtendGraphRequest(session_id=self.session_id)
        request.nodes.extend(op.to_node_def() for op in new)
        if self.epoch and not self._sent:  # re-creating: never recurse into _recover
            reply = self._transport.call("ExtendGraph", request)
        else:
            reply = self.call("ExtendGraph", request)
        for op, info in zip(new, reply.nodes):
            for tensor, out in zip(op.outputs, info.outputs):
                if out.shape.unknown_rank:
                    tensor.set_shape(None)
                else:
                    tensor.set_shape([None if d < 0 else int(d) for d in out.shape.dims])
            self._sent.add(op.name)
        restored = set(reply.restored)
        return [init for var, init in pairs if var not in restored]

    def _initializers(self, needed: set[str]) -> list[tuple[str, Operation]]:
        """``(variable, initializer op)`` of the tensor-initialised variables among ``needed``
        (made on the worker as zeros, then set by running these); adds the initializers'
        ancestors to ``needed``."""
        inits: list[tuple[str, Operation]] = []
        todo = list(needed)
        while todo:
            name = todo.pop()
            op = self.graph.get_operation_by_name(name)
            init = getattr(op, "init_op", None)
            if init is None or init.name in self._sent or any(init is i for _, i in inits):
                continue
            inits.append((name, init))
            more = self._unsent_ancestors([init]) - needed
            needed |= more
            todo.extend(more)
        return inits

    def _unsent_ancestors(self, roots: Sequence[Operation] | None) -> set[str]:
        if roots is None:
            return {op.name for op in self.graph.operations if op.name not in self._sent}
        needed: set[str] = set()
        stack = [op for op in roots if op.name not in self._sent]
        while stack:
            op = stack.pop()
            if op.name in needed or op.name in self._sent:
                continue
            needed.add(op.name)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
        return needed

    def run(self, fetches: Any, feed_dict: Mapping[Any, Any] | None = None) -> Any:
        """``sess.run(fetches, feed_dict=None)``: values of tensors and variables, ``None`` for ops.

        ``fetches`` may be a tensor, variable, operation, or a list, tuple or dict of them
        (the result has the same structure). ``feed_dict`` maps placeholders to values.
        """
        request, structure = self._run_request(fetches, feed_dict)
        reply = self.call("RunOp", request)
        return _rebuild_fetches(structure, [decode_tensor(t) for t in reply.fetched])

    def run_later(self, ops: Any, feed_dict: Mapping[Any, Any] | None = None) -> None:
        """Runs operations (no fetches) with this session's next call, in order, with no
        round trip of their own; errors surface at that call (see :meth:`defer`)."""
        if feed_dict is None and type(ops) is Operation and ops.graph is self.graph \
                and ops.name in self._sent:  # one operation the worker has (an update step)
            self.defer("RunOp", worker_pb2.RunOpRequest(session_id=self.session_id,
                                                        targets=[ops.name]))
            return
        request, _ = self._run_request(ops, feed_dict)
        if request.fetches:
            raise TypeError("run_later runs operations only; fetch values with run()")
        self.defer("RunOp", request)

    def _run_request(self, fetches: Any, feed_dict: Mapping[Any, Any] | None) -> tuple[Any, Any]:
        """The RunOp request for ``fetches``/``feed_dict`` (nodes synced) and the fetch structure."""
        fetch_names: list[str] = []
        targets: list[str] = []
        structure = self._collect_fetches(fetches, fetch_names, targets)
        request = worker_pb2.RunOpRequest(session_id=self.session_id)
        for key, value in (feed_dict or {}).items():
            tensor = key if isinstance(key, Tensor) else self.graph.get_tensor_by_name(
                key if ":" in key else f"{key}:0")
            self._check_graph(tensor.graph, tensor.name)
            if tensor.op.type != "Placeholder":
                raise TypeError(f"feed {tensor.name!r} is a {tensor.op.type}; only placeholders can be fed")
            fill_request_tensor(request.feeds[tensor.op.name], prepare_value(value, tensor.dtype, tensor.name))
        request.fetches.extend(fetch_names)
        request.targets.extend(dict.fromkeys(targets))
        roots = [self.graph.get_operation_by_name(n.rpartition(":")[0]) for n in fetch_names]
        roots += [self.graph.get_operation_by_name(n) for n in targets]
        roots += [self.graph.get_operation_by_name(n) for n in request.feeds]
        self.sync(roots)
        return request, structure

    def _collect_fetches(self, item: Any, fetch_names: list[str], targets: list[str]) -> Any:
        """``item``'s structure with each tensor replaced by its index in ``fetch_names``
        and each operation by None (appended to ``targets``). A method, not a nested
        recursive function: that would make a reference cycle per call, which only the
        garbage collector frees."""
        if isinstance(item, list):
            return [self._collect_fetches(x, fetch_names, targets) for x in item]
        if isinstance(item, tuple):
            return tuple(self._collect_fetches(x, fetch_names, targets) for x in item)
        if isinstance(item, dict):
            return {k: self._collect_fetches(v, fetch_names, targets) for k, v in item.items()}
        if isinstance(item, Operation):
            self._check_graph(item.graph, item.name)
            targets.append(item.name)
            return None
        tensor = item.value() if isinstance(item, Variable) else item
        if not isinstance(tensor, Tensor):
            raise TypeError(f"cannot fetch a {type(item).__name__}: fetch tensors, variables or operations")
        self._check_graph(tensor.graph, tensor.name)
        fetch_names.append(tensor.name)
        return len(fetch_names) - 1

    def _check_graph(self, graph: Graph, name: str) -> None:
        if graph is not self.graph:
            raise ValueError(f"{name!r} belongs to another graph than this session's")

    def __repr__(self) -> str:
        return f"<gentf Session {self.session_id[:8]} at {self.address}>"


class InteractiveSession(Session):
    """``tf.InteractiveSession()``: a Session that makes itself the default session when
    created (so ``Tensor.eval()`` and ``Operation.run()`` use it) until it is closed."""

    def __init__(self, address: str | None = None, graph: Graph | None = None, config: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(address, graph, config, **kwargs)
        self._previous = _DEFAULT.session if _DEFAULT.session is not self else None
        _DEFAULT.session = self

    def close(self) -> None:
        """Closes the session and restores the default session that was before it."""
        was_default = _DEFAULT.session is self
        super().close()
        if was_default and self._previous is not None and not self._previous.closed:
            _DEFAULT.session = self._previous


class _Default:
    session: Session | None = None


_DEFAULT = _Default()


def get_default_session() -> Session | None:
    """The default session (``with sess.as_default()``, else the first session created), or None."""
    return _DEFAULT.session


def default_worker(address: str | None = None, token: str | None = None) -> tuple[str, str | None]:
    """``(address, token)`` of the worker to use: ``address`` (``grpc://`` prefix dropped),
    else ``$GENTF_ADDRESS``, else the embedded local worker (started if needed, with its
    private token); ``token`` defaults to ``$GENTF_TOKEN``."""
    address = address or os.environ.get("GENTF_ADDRESS")
    token = token or os.environ.get("GENTF_TOKEN") or None
    if not address:
        address, token = embedded_worker()
    return address.removeprefix("grpc://"), token


_BUILDERS: dict[str, Transport] = {}
_BUILDERS_LOCK = threading.Lock()


def session_for_graph(graph: Graph) -> Session | None:
    """The open session that runs ``graph``: the default session when it does, else any."""
    current = _DEFAULT.session
    if current is not None and not current.closed and current.graph is graph:
        return current
    return next((s for s in list(_OPEN_SESSIONS) if not s.closed and s.graph is graph), None)


def _graph_worker_call(graph: Graph, method: str, request: Any) -> Any:
    """A session-free call (such as AddGradients) for ``graph``: on the worker of the graph's
    session, else on the default worker (``$GENTF_ADDRESS`` or the embedded one)."""
    session = session_for_graph(graph)
    if session is not None:
        return session.call(method, request)
    address, token = default_worker()
    with _BUILDERS_LOCK:
        transport = _BUILDERS.get(address)
        if transport is None:
            transport = _BUILDERS[address] = Transport(
                address, token=token, root_certificates=_root_certificates(None))
    return transport.call(method, request, wait_for_ready=True)


def _run_in_default_session(fetches: Any, feed_dict: Any, session: Any, what: str) -> Any:
    sess = session if session is not None else _DEFAULT.session
    if sess is None or sess.closed:
        raise ValueError(f"{what}: no default session is registered; pass session=, or use "
                         f"`with sess.as_default():`, `with tf.Session() as sess:` or "
                         f"tf.InteractiveSession()")
    return sess.run(fetches, feed_dict=feed_dict)


set_worker_link(WorkerLink(run=_run_in_default_session, call=_graph_worker_call,
                           session_for_graph=session_for_graph,
                           default_session=get_default_session))


_log = logging.getLogger("gentf")

MAX_DEFERRED_CALLS = 32
"""Deferred calls held at most; the next one sends them (one round trip)."""

_OPEN_SESSIONS: weakref.WeakSet[Session] = weakref.WeakSet()

_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _rebuild_fetches(item: Any, values: list[Any]) -> Any:
    """The fetch structure ``item`` (see ``Session._collect_fetches``) with each index
    replaced by its value. (A module function: a nested recursive one would make a
    reference cycle per call.)"""
    if isinstance(item, list):
        return [_rebuild_fetches(x, values) for x in item]
    if isinstance(item, tuple):
        return tuple(_rebuild_fetches(x, values) for x in item)
    if isinstance(item, dict):
        return {k: _rebuild_fetches(v, values) for k, v in item.items()}
    return None if item is None else values[item]


def _copy_held(method: str, request: Any) -> None:
    """Replaces the held tensors of a deferred request by copies of them."""
    for t in request_tensors(method, request):
        data = take_outgoing(t.blob_id) if t.blob_id else None
        if data is not None:
            t.blob_id = hold_outgoing(data.copy())


_REQUEST_IDS = itertools.count(secrets.randbits(62) | 1)
"""Request ids: consecutive from a random start (one system call per process, not per call;
two processes' ranges meet with negligible probability)."""


def _give_request_id(method: str, request: Any) -> None:
    """Gives a changing call (RunOp, AccumulateParamGradients) a request id unique to this
    process, so that a retry is applied once."""
    if method in ("RunOp", "AccumulateParamGradients") and not request.request_id:
        request.request_id = next(_REQUEST_IDS)


def _rewrite(request: Any, old: str, new: str, functions: Mapping[str, str],
             trace_args: Sequence[Any] | None) -> None:
    """Points a request built for the worker session ``old`` at ``new``: session and function
    ids replaced, trace handles (void in the new session) replaced by the trace's arguments,
    released handles dropped."""
    if isinstance(request, worker_pb2.BatchRequest):
        request.session_id = new
        for call in request.calls:
            kind = call.WhichOneof("call")
            if kind:
                _rewrite(getattr(call, kind), old, new, functions, None)
        return
    if getattr(request, "session_id", None) == old:
        request.session_id = new
    function_id = getattr(request, "function_id", "")
    if function_id in functions:
        request.function_id = functions[function_id]
    if isinstance(request, worker_pb2.GenerateRequest):
        del request.release_trace_handles[:]
    if isinstance(request, worker_pb2.GradientRequest) and request.trace_handle:
        if trace_args is None:
            raise AbortedError(f"session {new}: the worker session was re-created and the "
                               f"trace's arguments are not known here", "ABORTED")
        _resend_arguments(request, trace_args)


def _unwrap(result: Any) -> Any:
    kind = result.WhichOneof("result")
    return getattr(result, kind) if kind else None


def _partial_results(count: int) -> list[Any]:
    # The worker does not return the results of calls before a failure; deferred calls
    # have none that anyone reads, so their places are filled with None.
    return [worker_pb2.BatchResult() for _ in range(count)]


def _resend_arguments(request: Any, args: Sequence[Any] | None) -> bool:
    """Puts a gradient request's trace arguments inline (True if it was one that can)."""
    if args is None or not request.trace_handle:
        return False
    request.trace_handle = 0
    del request.args[:]
    for a in args:
        fill_request_tensor(request.args.add(), a)
    return True


@atexit.register
def _flush_open_sessions() -> None:
    """Deferred calls (such as a last parameter update) reach the worker before exit."""
    for session in list(_OPEN_SESSIONS):
        if not session.closed:
            try:
                session.flush()
            except Exception as exc:  # noqa: BLE001 - nothing to raise to at exit
                _log.warning("deferred calls of session %s were not sent: %s", session.session_id, exc)
