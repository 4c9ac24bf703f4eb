"""The framed call protocol: one worker call as a few length-prefixed frames on a stream socket.

Spoken between the front door and a session process (over a Unix socket) and between a
client and a session process's direct door (over TCP, TLS when the worker has a
certificate). A request is a header (method index, payload length) and the serialized
request, then, when the header's method index has :data:`ATTACHED` set, the request's
attachments (:func:`attachment_frames`); a reply is a header (status index, metadata length,
reply length), a small JSON document (message and trailing metadata) and the serialized
reply. Both sides of every hop import this module: the numbers below are the protocol.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
from collections.abc import Sequence
from typing import Any

from gentf.wire._codec import aligned_empty

Buffer = Any
"""bytes, bytearray, memoryview or an array: anything with the buffer protocol."""

__all__ = [
    "ATTACHED",
    "ATTACHMENT_HEADER",
    "CONTROL_GET_BLOB",
    "CONTROL_HELLO",
    "CONTROL_PUT_BLOB",
    "FRAME_HEADER",
    "MAX_ATTACHMENTS",
    "METHOD_NAMES",
    "REPLY_HEADER",
    "REQUEST_HEADER",
    "ROUTE_MAGIC",
    "STATUS_NAMES",
    "BadAttachments",
    "PayloadTooLarge",
    "attachment_frames",
    "decode_reply_meta",
    "encode_reply_frames",
    "encode_request_header",
    "encode_route",
    "read_route",
    "recv_attachments",
    "recv_exactly",
    "recv_into_exactly",
    "send_frames",
]

METHOD_NAMES: tuple[str, ...] = (
    "GetWorkerInfo", "GetOpRegistry", "CreateSession", "RenewLease", "CloseSession",
    "ExtendGraph", "Construct", "Generate", "ChoiceGradients", "AccumulateParamGradients",
    "RunOp", "Batch", "AddGradients", "Checkpoint", "RestoreCheckpoint",
)
"""Every ``gentf.v1.Worker`` method, in a fixed order (their index is their wire number)."""

STATUS_NAMES: tuple[str, ...] = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
)
"""gRPC status names, indexed by their numeric code."""

CONTROL_PUT_BLOB = 1001
"""Method index of a ``PutBlob`` stream: its payload is the first serialized ``BlobChunk``;
each later chunk follows as a frame (an 8-byte length, then the chunk), and a zero length
ends the stream; the reply is an ordinary reply."""

CONTROL_GET_BLOB = 1002
"""Method index of a ``GetBlob``: its payload is the serialized ``GetBlobRequest``; the reply
is an ordinary reply and, when OK, the blob's chunks as frames ending with a zero length."""

FRAME_HEADER = struct.Struct("<Q")
"""The length before each frame of a blob stream; 0 ends the stream."""

CONTROL_HELLO = 1005
"""Method index of the first request on a connection to a session process's direct door:
its payload is JSON ``{"token": <bearer token or "">}``; its reply is an ordinary reply."""

ROUTE_MAGIC = b"GENTF-ROUTE/1"
"""What a connection to a worker's shared direct port (``--direct-port``) sends first, in
the clear, before TLS: this, one byte ``n`` and an ``n``-byte ASCII route (the session's
``CreateSessionResponse.direct_route``). The worker hands the connection to that session's
process, whose direct door then takes it as its own (TLS, hello, calls)."""

MAX_ROUTE_BYTES = 64


def encode_route(route: str) -> bytes:
    """The routing preamble for ``route`` (1-64 ASCII characters; ValueError otherwise)."""
    raw = route.encode("ascii")
    if not 0 < len(raw) <= MAX_ROUTE_BYTES:
        raise ValueError(f"a route is 1-{MAX_ROUTE_BYTES} ASCII characters; got {route!r}")
    return ROUTE_MAGIC + bytes([len(raw)]) + raw


def read_route(sock: socket.socket) -> str:
    """The route of a connection's preamble (see :data:`ROUTE_MAGIC`), read exactly (nothing
    past it); ValueError when the connection opens with anything else, OSError when it ends
    or times out first."""
    magic = recv_exactly(sock, len(ROUTE_MAGIC) + 1)
    n = magic[-1]
    if bytes(magic[:-1]) != ROUTE_MAGIC or not 0 < n <= MAX_ROUTE_BYTES:
        raise ValueError("the connection does not open with a gentf route")
    raw = bytes(recv_exactly(sock, n))
    if not raw.isascii() or not raw.isalnum():
        raise ValueError("a route is letters and digits")
    return raw.decode("ascii")


REQUEST_HEADER = struct.Struct("<HQ")
"""(method index, payload length)."""

REPLY_HEADER = struct.Struct("<HIQ")
"""(status index, metadata length, reply length)."""

ATTACHED = 1 << 15
"""Set in a request header's method index (a reply header's status) when attachments
follow the payload (the reply): tensor elements sent beside the serialized message rather
than inside it, so neither side copies them into or out of a message. Each is an
:data:`ATTACHMENT_HEADER`, its blob id (ASCII) and its bytes; a header with an id length of
0 ends them. A tensor names its attachment by ``blob_id``, as it names a blob sent ahead
with ``PutBlob``."""

ATTACHMENT_HEADER = struct.Struct("<BQ")
"""(blob id length, data length) before each attachment."""

_MAX_SEND_VIEWS = 512
"""Buffers given to one ``sendmsg`` (the kernel takes at most ``IOV_MAX``, 1024 on Linux)."""

_METHOD_INDEX = {name: i for i, name in enumerate(METHOD_NAMES)}
_STATUS_INDEX = {name: i for i, name in enumerate(STATUS_NAMES)}


def encode_request_header(method: str | int, payload_length: int, attached: bool = False) -> bytes:
    """The header of a request for ``method`` (a name or a control index); ``attached``:
    attachments follow the payload (:func:`attachment_frames`)."""
    index = method if isinstance(method, int) else _METHOD_INDEX[method]
    return REQUEST_HEADER.pack(index | ATTACHED if attached else index, payload_length)


def attachment_frames(attachments: Sequence[tuple[str, Buffer]]) -> list[Buffer]:
    """The frames that follow a payload for ``attachments`` ((blob id, contiguous buffer)
    pairs, each id 1-255 ASCII characters): the buffers themselves, not copies, and the end
    marker."""
    frames: list[Buffer] = []
    for blob_id, data in attachments:
        name = blob_id.encode("ascii")
        frames += [ATTACHMENT_HEADER.pack(len(name), memoryview(data).nbytes), name, data]
    frames.append(ATTACHMENT_HEADER.pack(0, 0))
    return frames


_EMPTY_META = json.dumps({"message": "", "metadata": []}).encode()
"""The metadata frame of a reply with no message and no metadata (most of them), as any
JSON encoder writes it; read by comparison, not parsed."""


def encode_reply_frames(code: str, message: str, metadata: list[tuple[str, str]],
                        reply: bytes, attachments: Sequence[tuple[str, Buffer]] = ()
                        ) -> list[Buffer]:
    """The frames of a reply: header, metadata JSON, reply bytes (an unknown status is
    sent as INTERNAL), then the attachments its tensors name, if any."""
    meta = (json.dumps({"message": message, "metadata": metadata}).encode()
            if message or metadata else _EMPTY_META)
    status = _STATUS_INDEX.get(code, _STATUS_INDEX["INTERNAL"])
    header = REPLY_HEADER.pack(status | ATTACHED if attachments else status,
                               len(meta), len(reply))
    if attachments:
        return [header, meta, reply, *attachment_frames(attachments)]
    return [header, meta, reply]


def decode_reply_meta(header: bytes, meta: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """(status name, message, metadata) from a reply's header and metadata frames."""
    status, _, _ = REPLY_HEADER.unpack(header)
    status &= ~ATTACHED
    name = STATUS_NAMES[status] if status < len(STATUS_NAMES) else "UNKNOWN"
    if meta == _EMPTY_META:  # most replies: no JSON to parse
        return name, "", []
    doc = json.loads(meta)
    return name, doc["message"], [tuple(kv) for kv in doc["metadata"]]


def send_frames(sock: socket.socket, frames: Sequence[Buffer]) -> None:
    """Sends the frames (buffers) in order on a blocking socket, in one system call when the
    socket takes them all (one wake-up of the peer per message), without joining (copying)
    them.
    A TLS socket has no ``sendmsg``: its frames go one ``sendall`` each."""
    views = [memoryview(f).cast("B") for f in frames if len(f)]
    if isinstance(sock, ssl.SSLSocket):
        for view in views:
            sock.sendall(view)
        return
    while views:
        sent = sock.sendmsg(views[:_MAX_SEND_VIEWS])
        while views and sent >= views[0].nbytes:
            sent -= views[0].nbytes
            views.pop(0)
        if sent:
            views[0] = views[0][sent:]


def recv_exactly(sock: socket.socket, n: int) -> bytearray:
    """Reads exactly ``n`` bytes into one buffer; ConnectionError on EOF."""
    buf = bytearray(n)
    recv_into_exactly(sock, memoryview(buf))
    return buf


def recv_into_exactly(sock: socket.socket, view: memoryview) -> None:
    """Fills ``view`` from the socket; ConnectionError on EOF first."""
    got, n = 0, view.nbytes
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise ConnectionError("the peer closed the connection")
        got += k


MAX_ATTACHMENTS = 4096
"""The most attachments one message may carry."""


class PayloadTooLarge(ValueError):
    """A message announced more bytes than the receiver takes (they were not read: the
    connection is out of step)."""


class BadAttachments(ValueError):
    """A message's attachments were all read but cannot be used (a repeated or non-ASCII
    id): the call is refused, the connection stays in step."""


def recv_attachments(sock: socket.socket, max_bytes: int | None = None) -> dict[str, Any]:
    """The attachments after a message, by blob id, each in a new 64-byte aligned uint8
    array of its own (received into it, no copy).

    Raises :class:`PayloadTooLarge` (nothing more is read) when they announce more than
    ``max_bytes`` together or more than :data:`MAX_ATTACHMENTS`, :class:`BadAttachments`
    once all are read when an id repeats or is not ASCII, ConnectionError when the peer
    goes."""
    received: dict[str, Any] = {}
    problem = ""
    count = 0
    while True:
        id_length, nbytes = ATTACHMENT_HEADER.unpack(recv_exactly(sock, ATTACHMENT_HEADER.size))
        if id_length == 0:
            break
        count += 1
        if count > MAX_ATTACHMENTS:
            raise PayloadTooLarge(f"a message with more than {MAX_ATTACHMENTS} attachments")
        if max_bytes is not None:
            if nbytes > max_bytes:
                raise PayloadTooLarge("a message whose attachments add up to more bytes than "
                                      "this door takes (the worker's --max-message-mb)")
            max_bytes -= nbytes
        raw_id = bytes(recv_exactly(sock, id_length))
        buffer = aligned_empty(nbytes)
        recv_into_exactly(sock, memoryview(buffer))  # type: ignore[arg-type]
        try:
            blob_id = raw_id.decode("ascii")
        except UnicodeDecodeError:
            problem = problem or f"an attachment id that is not ASCII: {raw_id!r}"
            continue
        if blob_id in received:
            problem = problem or f"attachment {blob_id!r} comes twice in one message"
        received[blob_id] = buffer
    if problem:
        raise BadAttachments(problem)
    return received
