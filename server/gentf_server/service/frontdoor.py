"""The front door: every ``gentf.v1.Worker`` call, authenticated, routed, forwarded as bytes.

A call's request bytes are never parsed here beyond the session id at their head; they go
to the caller's session process (see ``supervisor/``) and its outcome comes back as a gRPC
status. The front door decides only what needs no TensorFlow: who the caller is, which
session and process the call belongs to, whether that process is alive, and how long the
call may take.

Calls arrive on the gRPC server's threads. A call on a live session of the caller (and
every blob stream) is forwarded from its thread, blocking, with no hop through the event
loop; the rest (sessions created or closed, worker-wide calls, refusals, which touch the
supervisor's state) run on the supervisor's event loop. A thread is held for the whole of
a call, so one owner may hold at most ``max_calls_per_owner`` at once (one more is
RESOURCE_EXHAUSTED at once): the server has threads for every owner's share, and an owner
that stalls its calls (or streams a blob slowly) holds only its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from gentf.v1 import worker_pb2

from gentf_server.calls import METHOD_NAMES, SESSION_METHODS, Outcome, session_id_of
from gentf_server.service.auth import Authenticator
from gentf_server.service.metrics import WorkerMetrics
from gentf_server.supervisor.process import ProcessDied
from gentf_server.supervisor.protocol import CONTROL_DIRECT
from gentf_server.supervisor.supervisor import Refused, SessionEntry, Supervisor

__all__ = ["SERVICE_NAME", "DirectOffer", "FrontDoor"]

log = logging.getLogger("gentf_server.frontdoor")

SERVICE_NAME = "gentf.v1.Worker"

_LOOP_METHODS = frozenset(("CloseSession",))
"""Session methods that change the supervisor's state: they run on its event loop."""


def _parses(method: str, request: bytes) -> bool:
    """Whether ``request`` is a well-formed request of ``method`` (checked only on the way to
    an error: the front door never parses a call it forwards)."""
    from google.protobuf.message import DecodeError

    name = {"ChoiceGradients": "GradientRequest", "AccumulateParamGradients": "GradientRequest"
            }.get(method, f"{method}Request")
    try:
        getattr(worker_pb2, name).FromString(request)
    except (DecodeError, ValueError, AttributeError):
        return False
    return True


@dataclass(frozen=True)
class DirectOffer:
    """Direct calls (``--direct-port`` or ``--advertise-host``): the host name clients are
    told ("": the one they dialed), the settings of each session process's direct door but
    its owner's token (see ``supervisor.direct``), and the worker's shared direct port (None:
    each process listens on a port of its own)."""

    advertise_host: str
    settings: dict[str, Any]
    shared_port: int | None = None

    def address(self, port: int) -> str:
        """``host:port`` of a direct door (an IPv6 address in brackets), or ``:port`` with
        no host to advertise."""
        host = self.advertise_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{port}"


class FrontDoor:
    """Serves ``gentf.v1.Worker`` on a Supervisor's session processes, from the threads of a
    synchronous gRPC server; ``loop`` is the supervisor's event loop. With ``direct``, a new
    session's reply carries the address of its process's direct door."""

    def __init__(self, supervisor: Supervisor, auth: Authenticator, metrics: WorkerMetrics,
                 call_deadline_seconds: float, loop: asyncio.AbstractEventLoop,
                 max_calls_per_owner: int, direct: DirectOffer | None = None) -> None:
        self.direct = direct
        self.supervisor = supervisor
        self.auth = auth
        self.metrics = metrics
        self.call_deadline_seconds = call_deadline_seconds
        self.loop = loop
        self.max_calls_per_owner = max_calls_per_owner
        self._calls: dict[str, int] = {}
        self._calls_lock = threading.Lock()

    def _admit(self, owner: str) -> None:
        """Counts a call of ``owner``; Refused (RESOURCE_EXHAUSTED) when it has
        ``max_calls_per_owner`` in flight already."""
        with self._calls_lock:
            held = self._calls.get(owner, 0)
            if held >= self.max_calls_per_owner:
                raise Refused("RESOURCE_EXHAUSTED",
                              f"owner {owner} has {held} calls in flight, this worker's most "
                              "(--max-calls-per-owner); wait for one to finish")
            self._calls[owner] = held + 1

    def _done(self, owner: str) -> None:
        with self._calls_lock:
            left = self._calls.get(owner, 1) - 1
            if left > 0:
                self._calls[owner] = left
            else:
                self._calls.pop(owner, None)

    def handler(self) -> grpc.GenericRpcHandler:
        """A generic handler for every Worker method, requests and replies as raw bytes."""
        def make(method: str) -> grpc.RpcMethodHandler:
            def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
                return self._serve(method, request, context)
            return grpc.unary_unary_rpc_method_handler(handle)

        handlers = {name: make(name) for name in METHOD_NAMES}
        handlers["PutBlob"] = grpc.stream_unary_rpc_method_handler(self._put_blob)
        handlers["GetBlob"] = grpc.unary_stream_rpc_method_handler(self._get_blob)
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)

    def _on_loop(self, work: Coroutine[Any, Any, Any]) -> Any:
        """Runs ``work`` on the supervisor's event loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def _fail(self, method: str, outcome: Outcome, session_id: str, owner: str,
              context: grpc.ServicerContext) -> None:
        """Logs the failure and ends the call with its status (raises)."""
        log.warning("%s failed: %s (session %s, owner %s): %s", method, outcome.code,
                    session_id or "-", owner, outcome.message)
        if outcome.metadata:
            context.set_trailing_metadata(tuple(outcome.metadata))
        context.abort(getattr(grpc.StatusCode, outcome.code), outcome.message)

    def _entry(self, method: str, request: bytes, owner: str) -> SessionEntry:
        """The caller's session named at the head of ``request``; Refused otherwise
        (INVALID_ARGUMENT for bytes that cannot be a request, else as
        :meth:`Supervisor.lookup` says, on the event loop)."""
        try:
            session_id = session_id_of(request)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused("INVALID_ARGUMENT",
                          f"{method}: the request is not a valid message: {exc}") from None
        entry = self.supervisor.find(session_id, owner)
        if entry is not None:
            return entry

        async def lookup() -> SessionEntry:
            return self.supervisor.lookup(session_id, owner)

        return self._on_loop(lookup())  # type: ignore[no-any-return]

    def _died(self, entry: SessionEntry | None, died: ProcessDied) -> Outcome:
        where = f"session {entry.session_id}: " if entry is not None else ""
        return Outcome("ABORTED", f"{where}session process died: {died.reason}; "
                                  "the session's state is lost")

    def _put_blob(self, chunks: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        """PutBlob: the first chunk names the session; every chunk goes on to its process
        unparsed."""
        start = time.perf_counter()
        owner = self.auth.owner(context.invocation_metadata()) or ""
        entry = None
        try:
            self._admit(owner)
            try:
                first = next(chunks, b"")
                entry = self._entry("PutBlob", first, owner)
                entry.enter()
                try:
                    outcome = entry.backend.put_blob_blocking(first, chunks,
                                                              self.call_deadline_seconds)
                except ProcessDied as died:
                    outcome = self._died(entry, died)
                except TimeoutError:
                    outcome = Outcome("DEADLINE_EXCEEDED", "PutBlob ran over the worker's "
                                      f"per-call deadline of {self.call_deadline_seconds:g} s "
                                      "(--call-deadline-seconds)")
                finally:
                    entry.leave()
            finally:
                self._done(owner)
        except Refused as refused:
            outcome = refused.outcome
        self.metrics.observe("PutBlob", outcome.code, time.perf_counter() - start)
        if outcome.ok:
            if entry is not None:
                entry.renew()
            return outcome.reply
        self._fail("PutBlob", outcome, entry.session_id if entry else "", owner, context)
        raise AssertionError("unreachable")

    def _get_blob(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        """GetBlob: the blob's chunks as the session process sends them."""
        start = time.perf_counter()
        owner = self.auth.owner(context.invocation_metadata()) or ""
        chunks = None
        try:
            self._admit(owner)
        except Refused as refused:
            self.metrics.observe("GetBlob", refused.outcome.code, time.perf_counter() - start)
            self._fail("GetBlob", refused.outcome, "", owner, context)
            return
        try:
            try:
                entry = self._entry("GetBlob", request, owner)
                try:
                    outcome, chunks = entry.backend.get_blob_blocking(request)
                except ProcessDied as died:
                    outcome = self._died(entry, died)
            except Refused as refused:
                outcome = refused.outcome
            if chunks is None:
                self.metrics.observe("GetBlob", outcome.code, time.perf_counter() - start)
                self._fail("GetBlob", outcome, "", owner, context)
                return
            yield from chunks
            self.metrics.observe("GetBlob", "OK", time.perf_counter() - start)
        finally:
            self._done(owner)

    def _serve(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        start = time.perf_counter()
        owner = self.auth.owner(context.invocation_metadata()) or ""
        session_id = ""
        try:
            self._admit(owner)
            try:
                if method in SESSION_METHODS:
                    try:
                        session_id = session_id_of(request)
                    except (ValueError, UnicodeDecodeError) as exc:
                        raise Refused("INVALID_ARGUMENT", f"{method}: the request is not a "
                                      f"valid message: {exc}") from None
                entry = (self.supervisor.find(session_id, owner)
                         if session_id and method not in _LOOP_METHODS else None)
                if entry is not None:
                    outcome = self._forward_blocking(entry, method, request)
                else:
                    outcome = self._on_loop(self._route(method, request, owner, session_id))
            finally:
                self._done(owner)
        except Refused as refused:
            outcome = refused.outcome
        self.metrics.observe(method, outcome.code, time.perf_counter() - start)
        if outcome.ok:
            return outcome.reply
        self._fail(method, outcome, session_id, owner, context)
        raise AssertionError("unreachable")

    def _forward_blocking(self, entry: SessionEntry, method: str, request: bytes) -> Outcome:
        """A call on a live session, forwarded from this thread."""
        deadline = self.call_deadline_seconds
        backend = entry.backend
        entry.enter()
        try:
            outcome = backend.call_blocking(method, request, deadline)
        except ProcessDied as died:
            return self._died(entry, died)
        except TimeoutError:
            return self._over_deadline(method, entry, backend.kill_soon)
        finally:
            entry.leave()
        if outcome.ok:
            entry.renew()
        return outcome

    async def _route(self, method: str, request: bytes, owner: str, session_id: str) -> Outcome:
        sup = self.supervisor
        if method in ("GetWorkerInfo", "GetOpRegistry", "AddGradients"):
            backend = await sup.any_process(owner)
            return await self._forward(backend, method, request, None)
        if method == "CreateSession":
            # The owner travels with the request (a name's checkpoints belong to it); any
            # value the client put there is replaced.
            try:
                create = worker_pb2.CreateSessionRequest.FromString(request)
            except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError
                raise Refused("INVALID_ARGUMENT",
                              f"CreateSession: the request is not a valid message: {exc}") from None
            create.owner = owner
            request = create.SerializeToString()
            backend = await sup.process_for(owner)
            try:
                outcome = await self._forward(backend, method, request, None)
                if outcome.ok:
                    reply = worker_pb2.CreateSessionResponse.FromString(outcome.reply)
                    sup.add_session(reply.session_id, owner, backend, reply.lease_seconds)
                    log.info("session %s opened for owner %s (process %d)", reply.session_id,
                             owner, backend.number)
                    address = await self._direct_address(backend, owner,
                                                         create.routes_direct_calls)
                    if address:
                        reply.direct_address = address
                        if backend.direct_handoff:
                            reply.direct_route = reply.session_id
                        outcome = Outcome("OK", reply=reply.SerializeToString())
            finally:
                sup.release(backend)
            return outcome
        try:
            entry = sup.lookup(session_id, owner)
        except Refused as refused:
            if refused.outcome.code == "NOT_FOUND" and not _parses(method, request):
                raise Refused("INVALID_ARGUMENT",
                              f"{method}: the request is not a valid gentf.v1 message") from None
            raise
        entry.enter()
        try:
            outcome = await self._forward(entry.backend, method, request, entry)
        finally:
            entry.leave()
        if method == "CloseSession" and outcome.code in ("OK", "NOT_FOUND"):
            sup.forget(session_id)
        elif outcome.ok:
            entry.renew()
        return outcome

    async def _direct_address(self, backend: Any, owner: str, routes: bool) -> str:
        """The address of ``backend``'s direct door, opened for ``owner`` if need be; "" when
        direct calls are off, the door cannot open, or it is behind the shared port and the
        client does not send routes (``routes``: an older client; it then uses this door)."""
        if self.direct is None or backend is self.supervisor.inprocess:
            return ""
        if self.direct.shared_port is not None and not routes:
            return ""
        if backend.direct_port is None:
            settings = dict(self.direct.settings, token_sha256=self.auth.token_sha256(owner))
            shared = self.direct.shared_port
            if shared is not None:
                settings["handoff"] = backend.socket_path + ".direct"
            try:
                outcome = await backend.call(CONTROL_DIRECT, json.dumps(settings).encode(), 30.0)
            except (ProcessDied, asyncio.TimeoutError) as exc:
                log.warning("process %d: no direct door: %s", backend.number, exc)
                return ""
            if not outcome.ok:
                log.warning("process %d: no direct door: %s: %s", backend.number, outcome.code,
                            outcome.message)
                return ""
            if shared is not None:
                backend.direct_handoff = settings["handoff"]
                backend.direct_port = shared
            else:
                backend.direct_port = int(json.loads(outcome.reply)["port"])
        return self.direct.address(backend.direct_port)

    async def _forward(self, backend: Any, method: str, request: bytes, entry: Any) -> Outcome:
        deadline = self.call_deadline_seconds
        try:
            return await backend.call(method, request, deadline)
        except ProcessDied as died:
            return self._died(entry, died)
        except asyncio.TimeoutError:
            return self._over_deadline(method, entry, backend.kill)

    def _over_deadline(self, method: str, entry: SessionEntry | None,
                       kill: Callable[[str], None]) -> Outcome:
        """DEADLINE_EXCEEDED for a call over the per-call deadline; the session process
        running a session's call is stopped with ``kill`` (the in-process backend cannot
        stop a call: it goes on)."""
        deadline = self.call_deadline_seconds
        where = f"session {entry.session_id}: " if entry is not None else ""
        consequence = "it goes on in the background"
        if entry is not None and entry.backend is not self.supervisor.inprocess:
            kill(f"a {method} call ran over the per-call deadline of {deadline:g} s")
            consequence = "the session process running it was stopped; its sessions are lost"
        return Outcome("DEADLINE_EXCEEDED",
                       f"{where}{method} ran over the worker's per-call deadline of "
                       f"{deadline:g} s (--call-deadline-seconds); {consequence}")
