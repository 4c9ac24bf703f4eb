"""Errors the worker core raises; the service layer maps each to one gRPC status code.

    CoreError
    ├── InvalidArgument       a malformed request (bad dtype, shape, op, attribute, node, cycle)
    ├── NotFound              an unknown session, function or node
    │   └── TraceNotFound     a dropped trace handle (the client resends the arguments)
    ├── AlreadyExists         a node name taken by a different definition
    ├── PermissionDenied      an op the worker refuses to run
    ├── ResourceExhausted     too many sessions, or a tensor too large
    │   └── ReplyTooLarge     a reply over the per-call quota (the call is undone)
    └── FailedPrecondition    a closed session
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "CoreError",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ReplyTooLarge",
    "ResourceExhausted",
    "TraceNotFound",
]


class CoreError(Exception):
    """Base of the worker core's errors; ``message`` is what the client sees."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(CoreError):
    """The request is malformed; it names the node or argument at fault."""


class NotFound(CoreError):
    """Something the request names does not exist."""


class TraceNotFound(NotFound):
    """A trace handle is unknown or was dropped from the trace store."""


class AlreadyExists(CoreError):
    """A node name is taken by a different definition."""


class PermissionDenied(CoreError):
    """The worker refuses the request."""


class ResourceExhausted(CoreError):
    """A limit of the worker was reached."""


class ReplyTooLarge(ResourceExhausted):
    """A call's reply would exceed the per-call reply quota; what the call did is undone."""


class FailedPrecondition(CoreError):
    """The state does not allow the request (a closed session)."""
