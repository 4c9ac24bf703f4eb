"""The client's connection to one worker: a gRPC channel (TLS when given root certificates),
the bearer token sent with every call, the stub, error translation, and big tensors.

The client follows the worker's message cap (``GetWorkerInfo.max_message_bytes``). A request
tensor of at least :func:`gentf.wire._blobs.blob_threshold` bytes (or one that would take
the request past half the cap) is sent ahead of its call as a blob, in chunks
(``PutBlob``); a reply tensor the worker left in a blob is fetched in chunks (``GetBlob``)
into one buffer, which decoding then wraps with no copy.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc

from gentf.errors import GentfError
from gentf.graph._core import Graph
from gentf.remote._direct import REPLY_TYPES, DirectRoute, was_attached
from gentf.v1 import worker_pb2, worker_pb2_grpc
from gentf.wire._blobs import (
    CHUNK_BYTES,
    BlobReceiver,
    add_blob_source,
    blob_threshold,
    chunk_frames,
    hold_outgoing,
    new_blob_id,
    parse_chunk,
    take_outgoing,
)
from gentf.wire._codec import tensor_nbytes
from gentf.wire._errors import translate_rpc_error

__all__ = ["BATCH_FIELDS", "DEFAULT_MAX_MESSAGE_BYTES", "DIRECT_METHODS", "IDEMPOTENT_METHODS", "Transport",
           "request_tensors", "retryable"]

DEFAULT_MAX_MESSAGE_BYTES = 256 << 20

_log = logging.getLogger("gentf")

_fetched: dict[str, Any] = {}
_fetched_lock = threading.Lock()


def _take_fetched(blob_id: str) -> Any:
    with _fetched_lock:
        return _fetched.pop(blob_id, None)


add_blob_source(_take_fetched)


def request_tensors(method: str, request: Any) -> list[Any]:
    """The tensors of a request that may travel as blobs (or be held; see
    :func:`gentf.wire.fill_request_tensor`)."""
    out: list[Any] = []
    if method == "Batch":
        for call in request.calls:
            kind = call.WhichOneof("call")
            if kind is not None:
                _add_call_tensors(kind, getattr(call, kind), out)
    elif method in BATCH_FIELDS:
        _add_call_tensors(BATCH_FIELDS[method], request, out)
    elif method == "ExtendGraph":
        for node in request.nodes:
            if node.HasField("initial_value"):
                out.append(node.initial_value)
            for attr in node.attrs.values():
                if attr.HasField("tensor"):
                    out.append(attr.tensor)
    return out


BATCH_FIELDS = {"Generate": "generate", "ChoiceGradients": "choice_gradients",
                "AccumulateParamGradients": "accumulate_param_gradients", "RunOp": "run_op"}
"""The calls a Batch carries (and a session can defer): method -> its field in
``BatchCall``."""


def _add_call_tensors(kind: str, request: Any, out: list[Any]) -> None:
    """Appends the tensors of one call (a ``BatchCall`` field ``kind``) to ``out``."""
    if kind == "run_op":
        if request.feeds:
            out.extend(request.feeds.values())
        return
    if request.args:
        out.extend(request.args)
    if kind != "generate" and request.HasField("retval_grad"):
        out.append(request.retval_grad)


def _reply_tensors(method: str, reply: Any) -> Iterator[Any]:
    """The tensors of a reply that may have been left in blobs."""
    if method == "Generate":
        yield reply.retval
    elif method in ("ChoiceGradients", "AccumulateParamGradients"):
        yield from reply.arg_grads
    elif method == "RunOp":
        yield from reply.fetched
    elif method == "Batch":
        for result in reply.results:
            kind = result.WhichOneof("result")
            if kind == "generate":
                yield result.generate.retval
            elif kind == "gradients":
                yield from result.gradients.arg_grads
            elif kind == "run_op":
                yield from result.run_op.fetched


DIRECT_METHODS = frozenset(REPLY_TYPES)
"""The calls a session's process serves directly, with their blobs (see
:meth:`Transport.use_direct`); the rest (sessions, leases, checkpoints, worker-wide calls)
always go through the front door."""

IDEMPOTENT_METHODS = frozenset((
    "GetWorkerInfo", "GetOpRegistry", "CreateSession", "RenewLease", "CloseSession",
    "ExtendGraph", "Construct", "Generate", "ChoiceGradients", "AddGradients", "Checkpoint",
    "RestoreCheckpoint"))
"""Methods whose repetition changes nothing a caller sees (a repeated CreateSession leaves
at most an idle session, which its lease ends; Generate at most an unused trace)."""


def retryable(method: str, request: Any) -> bool:
    """True when ``request`` may be sent again after UNAVAILABLE: an idempotent method, or a
    changing call (RunOp, AccumulateParamGradients, a Batch of them) whose every changing
    part carries a request id, which the worker applies once."""
    if method in IDEMPOTENT_METHODS:
        return True
    if method in ("RunOp", "AccumulateParamGradients"):
        return bool(request.request_id)
    if method == "Batch":
        for call in request.calls:
            kind = call.WhichOneof("call")
            if kind in ("run_op", "accumulate_param_gradients") and not getattr(
                    call, kind).request_id:
                return False
        return True
    return False


class Transport:
    """Calls worker RPCs by name with a timeout; failures raise gentf exceptions.

    One channel per worker address is reused for every call. With ``graph`` (the session's
    client graph), a TensorFlow failure at run time names the graph's failing op and the
    user's line that created it.
    """

    def __init__(self, address: str, timeout: float = 300.0,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, *,
                 token: str | None = None, root_certificates: bytes | None = None,
                 graph: Graph | None = None) -> None:
        self.address = address
        self.graph = graph
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._root_certificates = root_certificates
        self._token = token
        self.direct_address = ""
        """The session process called directly (see :meth:`use_direct`); "" for none."""
        self.direct_route = ""
        """What each direct connection names first (the worker's shared direct port); ""
        for a process's own port."""
        self._direct: DirectRoute | None = None
        self._direct_offer = ("", "")  # the (address, route) the route was made for
        self._open(max_message_bytes)
        self.calls: collections.Counter[str] = collections.Counter()
        """Round trips made, by RPC name (for benchmarks and tests)."""

    def _open(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        """The cap on one message, both directions: the worker's once it has said."""
        self.blob_threshold = blob_threshold(max_message_bytes)
        """Request tensors of at least this many bytes travel as blobs."""
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            # a restarted worker is found again within about a second
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1_000),
        ]
        if self._root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=self._root_certificates)
            self._channel = grpc.secure_channel(self.address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(self.address, options=options)
        self._stub = worker_pb2_grpc.WorkerStub(self._channel)  # type: ignore[no-untyped-call]
        self._put = self._channel.stream_unary(
            "/gentf.v1.Worker/PutBlob", request_serializer=None,
            response_deserializer=worker_pb2.PutBlobResponse.FromString)
        self._get = self._channel.unary_stream(
            "/gentf.v1.Worker/GetBlob",
            request_serializer=worker_pb2.GetBlobRequest.SerializeToString,
            response_deserializer=None)

    def use_direct(self, address: str, route: str = "") -> None:
        """Sends the calls of :data:`DIRECT_METHODS` to the session process at ``address``
        (``CreateSessionResponse.direct_address``, with its ``direct_route``; see
        :mod:`gentf.remote._direct`) instead of the front door, and their blobs too; ""
        goes back to the front door. The first UNAVAILABLE from the process also goes back
        (see :meth:`call`)."""
        if (address, route) == self._direct_offer:
            return
        self._drop_direct()
        if address:
            dialed_host = self.address.rpartition(":")[0]
            try:
                self._direct = DirectRoute(address, self._token, self._root_certificates,
                                           route, dialed_host)
            except ValueError as exc:  # an address or route this client cannot use
                _log.warning("direct calls offered at %r cannot be used (%s); going through "
                             "the front door", address, exc)
                return
            self.direct_address = self._direct.address
            self.direct_route = route
            self._direct_offer = (address, route)

    def _drop_direct(self) -> None:
        if self._direct is not None:
            self._direct.close()
        self._direct = None
        self.direct_address = ""
        self.direct_route = ""
        self._direct_offer = ("", "")

    def follow_cap(self, max_message_bytes: int) -> None:
        """Uses the worker's cap on one message from now on (reopens the channel when it
        differs; call it between calls, as GetWorkerInfo does)."""
        if max_message_bytes > 0 and max_message_bytes != self.max_message_bytes:
            self._channel.close()
            self._open(max_message_bytes)

    def call(self, method: str, request: Any, timeout: float | None = None,
             wait_for_ready: bool = False) -> Any:
        """Calls ``method`` (e.g. ``"Generate"``); returns the reply or raises a GentfError.

        Tensors too big for one message travel ahead as blobs (PutBlob) and big replies
        are fetched from blobs (GetBlob). A call that is safe to repeat (see
        :func:`retryable`: idempotent methods, and changing calls that carry a request id)
        is retried on UNAVAILABLE with exponential backoff (50 ms doubling to 2 s,
        jittered) until ``timeout`` seconds have passed since it started; then the last
        UNAVAILABLE is raised. A retried call sends its blobs again.

        A call sent straight to the session process (:meth:`use_direct`) that meets
        UNAVAILABLE goes back to the front door for good: a call safe to repeat, or one
        that never left (no connection to the process could open), is sent there at once;
        any other raises what the front door says of the session (ABORTED
        when its process died), else the UNAVAILABLE.
        """
        try:
            return self._call(method, request, timeout, wait_for_ready)
        except BaseException:
            self.discard_held(method, request)  # what it had not sent yet
            raise

    def _call(self, method: str, request: Any, timeout: float | None,
              wait_for_ready: bool) -> Any:
        budget = timeout or self.timeout
        deadline = time.monotonic() + budget
        delay = 0.05
        while True:
            self.calls[method] += 1
            moved: list[tuple[Any, Any]] = []
            route = self._direct if method in DIRECT_METHODS else None
            try:
                attached = self._send_blobs(method, request, budget, route, moved)
                if route is None:
                    reply = getattr(self._stub, method)(request, timeout=budget,
                                                        wait_for_ready=wait_for_ready,
                                                        metadata=self._metadata)
                else:
                    reply = route.call(method, request, budget, attached)
                if method == "GetWorkerInfo":
                    self.follow_cap(int(reply.max_message_bytes))
                elif method in ("Generate", "ChoiceGradients", "AccumulateParamGradients",
                                "RunOp", "Batch"):
                    self._fetch_blobs(method, request, reply, budget, route)
                return reply
            except grpc.RpcError as exc:
                if route is not None and exc.code() == grpc.StatusCode.UNAVAILABLE:
                    self._leave_direct(method, request, moved, exc)
                    continue
                left = deadline - time.monotonic()
                if (exc.code() == grpc.StatusCode.UNAVAILABLE and left > delay
                        and retryable(method, request)):
                    for tensor, data in moved:  # a blob is used once: send it again
                        tensor.content = b""
                        tensor.blob_id = hold_outgoing(data)
                    time.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(2 * delay, 2.0)
                    budget = max(deadline - time.monotonic(), 0.001)
                    continue
                lookup = None if self.graph is None else self._node
                raise translate_rpc_error(exc, method, lookup) from exc

    def _leave_direct(self, method: str, request: Any, moved: list[tuple[Any, Any]],
                      exc: grpc.RpcError) -> None:
        """After UNAVAILABLE from the session process: back to the front door for good.
        Returns when ``request`` may be sent there; raises otherwise (see :meth:`call`)."""
        _log.warning("direct calls to %s failed (%s); going through the front door",
                     self.direct_address, exc.details())
        self._drop_direct()
        for tensor, data in moved:  # a blob is used once: send it again
            tensor.content = b""
            tensor.blob_id = hold_outgoing(data)
        if getattr(exc, "nothing_sent", False) or retryable(method, request):
            return
        try:  # the front door knows whether the process died
            self.call("RenewLease", worker_pb2.RenewLeaseRequest(session_id=request.session_id))
        except GentfError:
            self.discard_held(method, request)
            raise
        self.discard_held(method, request)
        lookup = None if self.graph is None else self._node
        raise translate_rpc_error(exc, method, lookup) from exc

    @property
    def _chunk_bytes(self) -> int:
        return max(1 << 10, min(CHUNK_BYTES, self.max_message_bytes // 2))

    def _send_blobs(self, method: str, request: Any, timeout: float | None,
                    route: DirectRoute | None, moved: list[tuple[Any, Any]]
                    ) -> list[tuple[str, Any]]:
        """Moves each big tensor of ``request`` into a blob sent ahead with PutBlob, and each
        smaller held tensor (see :func:`gentf.wire.fill_request_tensor`) into the message,
        or, through ``route``, beside it as an attachment (no copy). Adds to ``moved`` the
        (tensor, buffer) pairs sent as blobs or attached, as it goes (used once: a resend,
        after a failure here too, holds them again); returns the (blob id, buffer)
        attachments for ``route``."""
        attached: list[tuple[str, Any]] = []
        if method not in ("Generate", "ChoiceGradients", "AccumulateParamGradients", "RunOp",
                          "Batch", "ExtendGraph"):
            return attached
        budget = self.max_message_bytes // 2
        inline = 0
        for t in request_tensors(method, request):
            held = take_outgoing(t.blob_id) if t.blob_id else None
            if t.blob_id and held is None:
                continue  # a blob already sent
            n = tensor_nbytes(t)
            if n < self.blob_threshold and inline + n <= budget:
                inline += n
                if held is None:
                    continue
                if route is not None:
                    attached.append((t.blob_id, held))
                    moved.append((t, held))
                else:
                    t.blob_id = ""
                    t.content = held.tobytes()
                continue
            if held is not None:
                data = held
            else:
                data = t.content  # read once
                t.content = b""
            t.blob_id = new_blob_id()
            moved.append((t, data))
            self.put_blob(request.session_id, t.blob_id, data, timeout, route)
            self.calls["PutBlob"] += 1
        return attached

    def discard_held(self, method: str, request: Any) -> None:
        """Lets go of the held tensors of a request that will not be sent (see
        :func:`gentf.wire.fill_request_tensor`)."""
        for t in request_tensors(method, request):
            if t.blob_id:
                take_outgoing(t.blob_id)

    def put_blob(self, session_id: str, blob_id: str, data: Any, timeout: float | None = None,
                 route: DirectRoute | None = None) -> None:
        """Sends ``data`` (a buffer) as blob ``blob_id`` of the session, in chunks (through
        the front door, or ``route``: the session process's direct door)."""
        if route is not None:
            route.put_blob(session_id, blob_id, data, self._chunk_bytes, timeout or self.timeout)
            return
        chunks = (b"".join((head, piece)) for head, piece in chunk_frames(
            data, session_id=session_id, blob_id=blob_id, chunk_bytes=self._chunk_bytes))
        self._put(chunks, timeout=timeout or self.timeout, metadata=self._metadata)

    def get_blob(self, session_id: str, blob_id: str, timeout: float | None = None,
                 route: DirectRoute | None = None) -> Any:
        """Streams a reply blob of the session into one new buffer (a uint8 array), through
        the front door or ``route``."""
        if route is not None:
            return route.get_blob(session_id, blob_id, timeout or self.timeout)
        request = worker_pb2.GetBlobRequest(session_id=session_id, blob_id=blob_id)
        receiver = BlobReceiver(blob_id)
        for raw in self._get(request, timeout=timeout or self.timeout, metadata=self._metadata):
            head = parse_chunk(raw)
            receiver.next_view(head)[:] = memoryview(raw)[head.data_start:head.data_end]
        return receiver.result()

    def _fetch_blobs(self, method: str, request: Any, reply: Any, timeout: float | None,
                     route: DirectRoute | None = None) -> None:
        """Fetches every reply tensor the worker left in a blob, for decode_tensor."""
        for t in _reply_tensors(method, reply):
            if t.blob_id and not (route is not None and was_attached(t.blob_id)):
                buffer = self.get_blob(request.session_id, t.blob_id, timeout, route)
                self.calls["GetBlob"] += 1
                with _fetched_lock:
                    _fetched[t.blob_id] = buffer

    def _node(self, name: str) -> tuple[str, str] | None:
        """``(op type, creation line)`` of the client graph's node ``name``, or None."""
        assert self.graph is not None
        try:
            op = self.graph.get_operation_by_name(name)
        except KeyError:
            return None
        return op.type, op.source

    def close(self) -> None:
        """Closes the channels."""
        self._channel.close()
        self._drop_direct()
