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
from typing import Any

from gentf.wire._frames import (
    ATTACHED,
    CONTROL_GET_BLOB,
    CONTROL_HELLO,
    CONTROL_PUT_BLOB,
    FRAME_HEADER,
    MAX_ATTACHMENTS,
    REPLY_HEADER,
    REQUEST_HEADER,
    BadAttachments,
    PayloadTooLarge,
    decode_reply_meta,
    encode_reply_frames,
    encode_request_header,
    recv_attachments,
    recv_exactly,
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


def encode_reply(outcome: Outcome) -> list[Any]:
    """The frames of a reply: header, metadata JSON, reply bytes, and its attachments."""
    return encode_reply_frames(outcome.code, outcome.message, outcome.metadata, outcome.reply,
                               outcome.attachments)


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
