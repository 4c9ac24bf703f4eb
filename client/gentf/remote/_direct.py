"""Calls straight to a session process's direct door (unless ``GENTF_DIRECT=0``).

A worker started with ``--direct-port`` or ``--advertise-host`` tells a new session where
its process listens (``CreateSessionResponse.direct_address``; with ``direct_route``, the
worker's shared port, where each connection first names its session).
:class:`DirectRoute` sends that session's hot calls and their blob streams there over TCP
(TLS with the client's root certificates, when it has them), in the framed protocol of :mod:`gentf.wire._frames`: a request is its
serialized bytes behind a 10-byte header, its big tensors' elements beside it as
attachments, sent from the caller's arrays (no copy into the message on this side, none out
of it on the other); a reply comes back the same way, its big tensors received straight
into the arrays decoding returns. No gRPC server or relay is on the way, which is what a
step's time mostly went to. Each connection says hello with the session's bearer
token first, then carries one call at a time; connections are pooled, one per calling
thread at most.

Failures come back as :class:`DirectCallError`, a ``grpc.RpcError`` that is also a
``grpc.Call``: the client's one translation of gRPC errors (``gentf.wire._errors``) and its
retry rules apply unchanged. A connection that fails is UNAVAILABLE; one past its deadline
is DEADLINE_EXCEEDED (and closed: its reply may still come).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Sequence
from typing import Any

import grpc

from gentf.v1 import worker_pb2
from gentf.wire._blobs import BlobReceiver, add_blob_source, chunk_frames, parse_chunk
from gentf.wire._frames import (
    ATTACHED,
    CONTROL_GET_BLOB,
    CONTROL_HELLO,
    CONTROL_PUT_BLOB,
    FRAME_HEADER,
    REPLY_HEADER,
    attachment_frames,
    decode_reply_meta,
    encode_request_header,
    encode_route,
    recv_attachments,
    recv_exactly,
    recv_into_exactly,
    send_frames,
)

__all__ = ["REPLY_TYPES", "DirectCallError", "DirectRoute", "split_address", "was_attached"]

REPLY_TYPES: dict[str, Any] = {
    "ExtendGraph": worker_pb2.ExtendGraphResponse,
    "Construct": worker_pb2.ConstructResponse,
    "Generate": worker_pb2.GenerateResponse,
    "ChoiceGradients": worker_pb2.GradientResponse,
    "AccumulateParamGradients": worker_pb2.GradientResponse,
    "RunOp": worker_pb2.RunOpResponse,
    "Batch": worker_pb2.BatchResponse,
}
"""The reply message of each call a direct door serves."""

SOCKET_BUFFER_BYTES = 4 << 20
"""Send and receive buffers asked for (a step's request in one system call)."""

_IDLE_MAX = 8


class _Received(threading.local):
    """The attachments of this thread's last direct reply, by blob id, until decoded."""

    def __init__(self) -> None:
        self.by_id: dict[str, Any] = {}


_RECEIVED = _Received()


def _take_received(blob_id: str) -> Any:
    return _RECEIVED.by_id.pop(blob_id, None)


add_blob_source(_take_received)


def was_attached(blob_id: str) -> bool:
    """Whether a tensor of this thread's last direct reply came as attachment ``blob_id``
    (to be decoded, not fetched)."""
    return blob_id in _RECEIVED.by_id


class DirectCallError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A failed direct call, shaped as a failed gRPC call (``code()``, ``details()``,
    ``trailing_metadata()``)."""

    def __init__(self, code: str, details: str,
                 metadata: list[tuple[str, str]] | None = None,
                 nothing_sent: bool = False) -> None:
        super().__init__(details)
        self._code = getattr(grpc.StatusCode, code, grpc.StatusCode.UNKNOWN)
        self._details = details
        self._metadata = tuple(metadata or ())
        self.nothing_sent = nothing_sent
        """True when the call never left this side (no connection could be opened): it
        may be sent elsewhere as it is."""

    def code(self) -> grpc.StatusCode:
        """The gRPC status code."""
        return self._code

    def details(self) -> str:
        """The worker's message."""
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """The worker's metadata (``gentf-reason``, ``gentf-failed-call``)."""
        return self._metadata

    def initial_metadata(self) -> tuple[tuple[str, str], ...]:
        """None sent: empty."""
        return ()

    def is_active(self) -> bool:
        """A failed call is over."""
        return False

    def time_remaining(self) -> float | None:
        """A failed call is over."""
        return None

    def cancel(self) -> bool:
        """A failed call is over: nothing to cancel."""
        return False

    def add_callback(self, callback: Any) -> bool:
        """A failed call is over: no callback is added."""
        return False


def split_address(address: str) -> tuple[str, int]:
    """``("host", port)`` of ``"host:port"`` or ``"[v6]:port"``; ValueError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"not a host:port address: {address!r}")
    return host.strip("[]"), int(port)


CONNECT_SECONDS = 5.0
"""How long a new direct connection may take to open (TCP, and TLS and hello after): a
door that cannot be reached (a port a firewall drops) costs at most this once, then the
session goes through the front door."""


class DirectRoute:
    """Calls one session process's direct door at ``address`` (``host:port``; ``:port``:
    on ``dialed_host``, the front door's host). With ``route`` (the worker's shared direct
    port), each connection opens with that route, so the worker hands it to the session's
    process."""

    def __init__(self, address: str, token: str | None,
                 root_certificates: bytes | None, route: str = "",
                 dialed_host: str = "") -> None:
        if address.startswith(":") and dialed_host:
            host = dialed_host.strip("[]")
            address = f"[{host}]{address}" if ":" in host else f"{host}{address}"
        self.address = address
        self._host, self._port = split_address(address)
        self._route = encode_route(route) if route else b""
        self._hello = json.dumps({"token": token or ""}).encode()
        self._tls = None
        if root_certificates is not None:
            self._tls = ssl.create_default_context(cadata=root_certificates.decode())
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self, timeout: float) -> socket.socket:
        """A new greeted connection; :class:`DirectCallError` (UNAVAILABLE, with
        ``nothing_sent``) when it cannot be opened within :data:`CONNECT_SECONDS`."""
        opening = min(timeout, CONNECT_SECONDS)
        try:
            sock = socket.create_connection((self._host, self._port), timeout=opening)
        except OSError as exc:
            raise DirectCallError("UNAVAILABLE", f"the session process at {self.address} "
                                                 f"cannot be reached: {exc}",
                                  nothing_sent=True) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
            if self._route:
                sock.sendall(self._route)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._host)
            send_frames(sock, [encode_request_header(CONTROL_HELLO, len(self._hello)),
                               self._hello])
            code, message, metadata, _ = _read_reply(sock)
        except (OSError, ValueError) as exc:
            sock.close()
            raise DirectCallError("UNAVAILABLE", f"the session process at {self.address} "
                                                 f"did not take the connection: {exc}",
                                  nothing_sent=True) from None
        except BaseException:
            sock.close()
            raise
        if code != "OK":
            sock.close()
            raise DirectCallError(code, message, metadata)
        return sock

    def call(self, method: str, request: Any, timeout: float,
             attachments: Sequence[tuple[str, Any]] = ()) -> Any:
        """Sends ``request`` (a ``gentf.v1`` message) as ``method``, with ``attachments``
        ((blob id, contiguous buffer) pairs its tensors name by ``blob_id``) sent beside it
        in the same system call, and returns the parsed reply; raises
        :class:`DirectCallError`. The reply's attachments wait for ``decode_tensor`` in this
        thread until its next call."""
        _RECEIVED.by_id = {}  # the previous reply's: decoded by now, or never to be
        payload = request.SerializeToString()
        frames = [encode_request_header(method, len(payload), bool(attachments)), payload]
        if attachments:
            frames += attachment_frames(attachments)

        def exchange(sock: socket.socket) -> Any:
            send_frames(sock, frames)
            return _read_reply(sock)

        code, message, metadata, reply = self._on_connection(exchange, timeout)
        if code != "OK":
            raise DirectCallError(code, message, metadata)
        return REPLY_TYPES[method].FromString(reply)

    def put_blob(self, session_id: str, blob_id: str, data: Any, chunk_bytes: int,
                 timeout: float) -> None:
        """Sends ``data`` (a buffer) as blob ``blob_id`` of the session: the first chunk as
        the request, each later one as a frame, the chunks' data never joined (copied) with
        their headers; raises :class:`DirectCallError`."""
        frames = chunk_frames(data, session_id=session_id, blob_id=blob_id,
                              chunk_bytes=chunk_bytes)

        def exchange(sock: socket.socket) -> Any:
            for k, (head, piece) in enumerate(frames):
                size = len(head) + memoryview(piece).nbytes
                lead = (encode_request_header(CONTROL_PUT_BLOB, size) if k == 0
                        else FRAME_HEADER.pack(size))
                send_frames(sock, [lead, head, piece])
            send_frames(sock, [FRAME_HEADER.pack(0)])
            return _read_reply(sock)

        code, message, metadata, _ = self._on_connection(exchange, timeout)
        if code != "OK":
            raise DirectCallError(code, message, metadata)

    def get_blob(self, session_id: str, blob_id: str, timeout: float) -> Any:
        """The session's reply blob ``blob_id`` as one new uint8 array, each chunk's data
        received straight into it; raises :class:`DirectCallError`."""
        request = worker_pb2.GetBlobRequest(session_id=session_id,
                                            blob_id=blob_id).SerializeToString()

        def exchange(sock: socket.socket) -> Any:
            send_frames(sock, [encode_request_header(CONTROL_GET_BLOB, len(request)), request])
            code, message, metadata, _ = _read_reply(sock)
            if code != "OK":
                return code, message, metadata, None
            return code, message, metadata, _receive_blob(sock, blob_id)

        code, message, metadata, buffer = self._on_connection(exchange, timeout)
        if code != "OK":
            raise DirectCallError(code, message, metadata)
        return buffer

    def _on_connection(self, exchange: Any, timeout: float) -> Any:
        """``exchange(sock)`` on a pooled connection (a new one when none is idle); the
        connection goes back to the pool only when the exchange completed."""
        with self._lock:
            sock = self._idle.pop() if self._idle else None
        reusable = False
        try:
            if sock is None:
                sock = self._connect(timeout)
            sock.settimeout(timeout)
            out = exchange(sock)
            reusable = True
            return out
        except DirectCallError:
            raise
        except TimeoutError:  # socket.timeout; before the OSError it is
            raise DirectCallError("DEADLINE_EXCEEDED",
                                  f"no reply from the session process at {self.address} "
                                  f"within {timeout:g} s") from None
        except (OSError, ValueError) as exc:
            raise DirectCallError("UNAVAILABLE", f"the session process at {self.address} "
                                                 f"cannot be reached: {exc}") from None
        finally:
            if sock is not None:
                with self._lock:
                    if reusable and not self._closed and len(self._idle) < _IDLE_MAX:
                        self._idle.append(sock)
                        sock = None
                if sock is not None:
                    sock.close()

    def close(self) -> None:
        """Closes every pooled connection."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()


_PREFIX_BYTES = 256
"""Bytes of a blob frame read first, to find where its data starts."""


def _receive_blob(sock: socket.socket, blob_id: str) -> Any:
    """The frames of a GetBlob after its reply, into one new uint8 array (ValueError when
    they do not add up to the total the first announces), each chunk's data received
    straight into it."""
    receiver = BlobReceiver(blob_id)
    while True:
        (length,) = FRAME_HEADER.unpack(recv_exactly(sock, FRAME_HEADER.size))
        if length == 0:
            return receiver.result()
        prefix = recv_exactly(sock, min(length, _PREFIX_BYTES))
        try:
            head = parse_chunk(prefix, prefix=True)
        except ValueError:
            prefix += recv_exactly(sock, length - len(prefix))
            head = parse_chunk(prefix)
        if head.data_end > length:
            raise ValueError(f"blob {blob_id!r}: a chunk runs past its frame")
        target = receiver.next_view(head)
        have = min(len(prefix), head.data_end) - head.data_start
        target[:have] = memoryview(prefix)[head.data_start:head.data_start + have]
        recv_into_exactly(sock, target[have:])
        rest = length - max(len(prefix), head.data_end)
        if rest:
            recv_exactly(sock, rest)  # fields after the data


def _read_reply(sock: socket.socket) -> tuple[str, str, list[tuple[str, str]], bytearray]:
    header = bytes(recv_exactly(sock, REPLY_HEADER.size))
    _, meta_len, reply_len = REPLY_HEADER.unpack(header)
    meta = bytes(recv_exactly(sock, meta_len))
    reply = recv_exactly(sock, reply_len)  # protobuf parses the buffer as it is
    code, message, metadata = decode_reply_meta(header, meta)
    if REPLY_HEADER.unpack(header)[0] & ATTACHED:
        _RECEIVED.by_id.update(recv_attachments(sock))
    return code, message, metadata, reply
