"""Framing of calls between the front door and a session process over a Unix socket.

A request is a header (method index, payload length) and the raw serialized request; a
reply is a header (status index, metadata length, reply length), a small JSON document
(message and trailing metadata) and the raw serialized reply. The payloads are never
parsed or copied on the front door's side beyond reading them off the socket.

Blob streams: a ``PutBlob`` is a request with index :data:`CONTROL_PUT_BLOB` whose payload is
the first serialized chunk, followed by frames (an 8-byte length, then a serialized chunk)
and a zero-length frame; the reply is an ordinary reply. A ``GetBlob`` is a request with
index :data:`CONTROL_GET_BLOB` and the serialized ``GetBlobRequest``; the reply is an
ordinary reply (with no reply bytes) and, when OK, frames of serialized chunks ending with
a zero-length frame.
"""

from __future__ import annotations

import json
import socket
import struct

from gentf_server.calls import METHOD_NAMES, STATUS_NAMES, Outcome

__all__ = [
    "CONTROL_GET_BLOB",
    "CONTROL_PUT_BLOB",
    "CONTROL_STATS",
    "FRAME_HEADER",
    "REQUEST_HEADER",
    "decode_reply_meta",
    "encode_reply",
    "encode_request_header",
    "recv_exactly",
    "recv_request",
    "send_frames",
]

REQUEST_HEADER = struct.Struct("<HQ")
REPLY_HEADER = struct.Struct("<HIQ")

CONTROL_STATS = 1000
"""Method index of the control call that returns the process's statistics as JSON."""

CONTROL_PUT_BLOB = 1001
"""Method index of a ``PutBlob`` stream (its payload is the first chunk; frames follow)."""

CONTROL_GET_BLOB = 1002
"""Method index of a ``GetBlob`` (its payload is the request; frames follow the reply)."""

FRAME_HEADER = struct.Struct("<Q")
"""The length before each frame of a blob stream; 0 ends the stream."""

_METHOD_INDEX = {name: i for i, name in enumerate(METHOD_NAMES)}
_STATUS_INDEX = {name: i for i, name in enumerate(STATUS_NAMES)}


def encode_request_header(method: str | int, payload_length: int) -> bytes:
    """The header of a request for ``method`` (a name or a control index)."""
    index = method if isinstance(method, int) else _METHOD_INDEX[method]
    return REQUEST_HEADER.pack(index, payload_length)


def encode_reply(outcome: Outcome) -> list[bytes]:
    """The frames of a reply: header, metadata JSON, reply bytes."""
    meta = json.dumps({"message": outcome.message, "metadata": outcome.metadata}).encode()
    header = REPLY_HEADER.pack(_STATUS_INDEX.get(outcome.code, _STATUS_INDEX["INTERNAL"]),
                               len(meta), len(outcome.reply))
    return [header, meta, outcome.reply]


def decode_reply_meta(header: bytes, meta: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """(status name, message, metadata) from a reply's header and metadata frames."""
    status, _, _ = REPLY_HEADER.unpack(header)
    doc = json.loads(meta)
    return STATUS_NAMES[status], doc["message"], [tuple(kv) for kv in doc["metadata"]]


def send_frames(sock: socket.socket, frames: list[bytes]) -> None:
    """Sends the frames in order on a blocking socket, in one system call when the socket
    takes them all (one wake-up of the peer per message), without joining (copying) them."""
    views = [memoryview(f).cast("B") for f in frames if len(f)]
    while views:
        sent = sock.sendmsg(views)
        while views and sent >= views[0].nbytes:
            sent -= views[0].nbytes
            views.pop(0)
        if sent:
            views[0] = views[0][sent:]


def recv_exactly(sock: socket.socket, n: int) -> bytearray:
    """Reads exactly ``n`` bytes into one buffer; ConnectionError on EOF."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise ConnectionError("the peer closed the connection")
        got += k
    return buf


def recv_request(sock: socket.socket) -> tuple[int, bytearray] | None:
    """(method index, payload) of the next request; None when the peer closed cleanly."""
    first = sock.recv(REQUEST_HEADER.size, socket.MSG_WAITALL)
    if not first:
        return None
    if len(first) < REQUEST_HEADER.size:
        first += recv_exactly(sock, REQUEST_HEADER.size - len(first))
    index, length = REQUEST_HEADER.unpack(first)
    return index, recv_exactly(sock, length)


