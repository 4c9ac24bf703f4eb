"""What a worker call is, on both sides of a process boundary, with no gRPC and no TensorFlow.

The front door (``service/``) forwards a call as its method name and raw request bytes; the
code that runs it (``core.dispatch``, in a session process or in the front door's own
process) answers with an :class:`Outcome`. Both sides import this module and nothing heavier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gentf.wire._frames import METHOD_NAMES, STATUS_NAMES

__all__ = ["METHOD_NAMES", "SESSION_METHODS", "STATUS_NAMES", "Outcome"]

SESSION_METHODS: frozenset[str] = frozenset((
    "RenewLease", "CloseSession", "ExtendGraph", "Construct", "Generate", "ChoiceGradients",
    "AccumulateParamGradients", "RunOp", "Batch", "Checkpoint", "RestoreCheckpoint"))
"""Methods whose request names a session in field 1 (``session_id``)."""


@dataclass
class Outcome:
    """The result of one call: ``code`` is ``"OK"`` or a gRPC status name from
    :data:`STATUS_NAMES`; ``reply`` is the serialized reply message when OK."""

    code: str
    message: str = ""
    metadata: list[tuple[str, str]] = field(default_factory=list)
    reply: bytes = b""
    attachments: list[tuple[str, Any]] = field(default_factory=list)
    """(blob id, contiguous buffer) of the reply tensors sent beside it (see
    ``gentf.wire._frames.ATTACHED``): only for a caller that takes them."""

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.code == "OK"


def session_id_of(request: bytes) -> str:
    """The ``session_id`` (field 1, a string) of a serialized session request, read without
    parsing the rest (protobuf writes fields in number order); "" when absent.

    Raises ValueError when the bytes cannot be a valid message starting that way.
    """
    if not request or request[0] != 0x0A:  # field 1, wire type 2 (length-delimited)
        return ""
    length, shift, pos = 0, 0, 1
    while True:
        if pos >= len(request) or shift > 28:
            raise ValueError("truncated session_id")
        byte = request[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            break
    if length > 256 or pos + length > len(request):
        raise ValueError("malformed session_id")
    return bytes(request[pos:pos + length]).decode("utf-8")
