"""Framing of calls between the front door and a session process over a Unix socket.

A request is a header (method index, payload length) and the raw serialized request; a
reply is a header (status index, metadata length, reply length), a small JSON document
(message and trailing metadata) and the raw serialized reply. The payloads are never
parsed or copied on the front door's side beyond reading them off the socket.

Attachments: a request whose method index has :data:`ATTACHED` set is followed by tensor
bytes sent beside it (see :mod:`gentf.wire._frames`); :func:`recv_attachments` receives each
straight into a buffer of its own, which the request's tensors then wrap with no copy.

Blob streams: a ``PutBlob`` is a request with index :data:`CONTROL_PUT_BLOB` whose payload is
the first serialized chunk, followed by frames (an 8-byte length, then a serialized chunk)
and a zero-length frame; the reply is an ordinary reply. A ``GetBlob`` is a request with
index :data:`CONTROL_GET_BLOB` and the serialized ``GetBlobRequest``; the reply is an
ordinary reply (with no reply bytes) and, when OK, frames of serialized chunks ending with
a zero-length frame.
"""

from __future__ import annotations

import socket
import ssl

from gentf.wire._codec import aligned_empty
from gentf.wire._frames import (
    ATTACHED,
    ATTACHMENT_HEADER,
    CONTROL_GET_BLOB,
    CONTROL_HELLO,
    CONTROL_PUT_BLOB,
    FRAME_HEADER,
    REPLY_HEADER,
    REQUEST_HEADER,
    decode_reply_meta,
    encode_reply_frames,
    encode_request_header,
    recv_exactly,
    recv_into_exactly,
    send_frames,
)

from gentf_server.calls import Outcome

__all__ = [
    "ATTACHED",
    "CONTROL_DIRECT",
    "CONTROL_GET_BLOB",
    "CONTROL_HELLO",
    "CONTROL_LEASES",
    "CONTROL_PUT_BLOB",
    "CONTROL_STATS",
    "EXIT_OVER_DEADLINE",
    "FRAME_HEADER",
    "MAX_ATTACHMENTS",
    "REPLY_HEADER",
    "REQUEST_HEADER",
    "BadAttachments",
    "PayloadTooLarge",
    "decode_reply_meta",
    "encode_reply",
    "encode_request_header",
    "recv_attachments",
    "recv_exactly",
    "recv_request",
    "send_frames",
]


CONTROL_STATS = 1000
"""Method index of the control call that returns the process's statistics as JSON."""

CONTROL_DIRECT = 1003
"""Method index of the control call that opens the process's direct door for its owner (its
payload: :class:`~gentf_server.supervisor.direct.DirectSettings` as JSON; its reply: the port as
JSON); again, it answers the same port."""

CONTROL_LEASES = 1004
"""Method index of the control call that reports, for the session ids in its JSON payload,
the seconds left of each one's lease in the process (null: not open there), without renewing
them: calls made straight to the process renew only the process's leases."""

EXIT_OVER_DEADLINE = 75
"""The exit status of a session process that ended itself because a direct call ran over
the per-call deadline."""


def encode_reply(outcome: Outcome) -> list[bytes]:
    """The frames of a reply: header, metadata JSON, reply bytes."""
    return encode_reply_frames(outcome.code, outcome.message, outcome.metadata, outcome.reply)


class PayloadTooLarge(ValueError):
    """A request announced more bytes than the receiver takes (its payload was not read)."""


def recv_request(sock: socket.socket, max_payload: int | None = None) -> tuple[int, bytearray] | None:
    """(method index, payload) of the next request; None when the peer closed cleanly.

    With ``max_payload``, a request announcing more raises :class:`PayloadTooLarge` before
    anything is allocated for it."""
    if isinstance(sock, ssl.SSLSocket):  # TLS sockets take no recv flags
        try:
            first = bytes(recv_exactly(sock, REQUEST_HEADER.size))
        except ConnectionError:
            return None
    else:
        first = sock.recv(REQUEST_HEADER.size, socket.MSG_WAITALL)
        if not first:
            return None
        if len(first) < REQUEST_HEADER.size:
            first += recv_exactly(sock, REQUEST_HEADER.size - len(first))
    index, length = REQUEST_HEADER.unpack(first)
    if max_payload is not None and length > max_payload:
        raise PayloadTooLarge(f"a request of {length} bytes; this door takes at most "
                              f"{max_payload} (the worker's --max-message-mb)")
    return index, recv_exactly(sock, length)


MAX_ATTACHMENTS = 4096
"""The most attachments one request may carry."""


class BadAttachments(ValueError):
    """A request's attachments were all read but cannot be used (a repeated or non-ASCII
    id): the call is refused, the connection stays in step."""


def recv_attachments(sock: socket.socket, max_bytes: int | None = None) -> dict[str, object]:
    """The attachments after a request's payload, by blob id, each in a new 64-byte aligned
    uint8 array of its own (received into it, no copy).

    Raises :class:`PayloadTooLarge` (nothing more is read: the connection is out of step)
    when they announce more than ``max_bytes`` together or more than
    :data:`MAX_ATTACHMENTS`, :class:`BadAttachments` once all are read when an id repeats
    or is not ASCII, ConnectionError when the peer goes."""
    received: dict[str, object] = {}
    problem = ""
    count = 0
    while True:
        id_length, nbytes = ATTACHMENT_HEADER.unpack(recv_exactly(sock, ATTACHMENT_HEADER.size))
        if id_length == 0:
            break
        count += 1
        if count > MAX_ATTACHMENTS:
            raise PayloadTooLarge(f"a request with more than {MAX_ATTACHMENTS} attachments")
        if max_bytes is not None:
            if nbytes > max_bytes:
                raise PayloadTooLarge("a request whose attachments add up to more bytes than "
                                      "this door takes (the worker's --max-message-mb)")
            max_bytes -= nbytes
        raw_id = bytes(recv_exactly(sock, id_length))
        buffer = aligned_empty(nbytes)
        recv_into_exactly(sock, memoryview(buffer))
        try:
            blob_id = raw_id.decode("ascii")
        except UnicodeDecodeError:
            problem = problem or f"an attachment id that is not ASCII: {raw_id!r}"
            continue
        if blob_id in received:
            problem = problem or f"attachment {blob_id!r} comes twice in one request"
        received[blob_id] = buffer
    if problem:
        raise BadAttachments(problem)
    return received
