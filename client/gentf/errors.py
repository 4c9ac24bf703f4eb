"""The exceptions gentf raises.

Every error from a worker arrives as one of these, translated from its gRPC status in one
place (``gentf.wire._errors``); each extends the matching built-in, so ``except ValueError``
catches a rejected argument whichever layer found it::

    GentfError(Exception)
    ├── InvalidArgumentError(GentfError, ValueError)        INVALID_ARGUMENT, OUT_OF_RANGE
    ├── NotFoundError(GentfError, LookupError)              NOT_FOUND
    ├── AlreadyExistsError(GentfError, ValueError)          ALREADY_EXISTS
    ├── PermissionDeniedError(GentfError, PermissionError)  PERMISSION_DENIED
    │   └── UnauthenticatedError                            UNAUTHENTICATED: no or a wrong token
    ├── ResourceExhaustedError(GentfError, MemoryError)     RESOURCE_EXHAUSTED
    ├── FailedPreconditionError(GentfError, RuntimeError)   FAILED_PRECONDITION
    │   ├── AbortedError                                    ABORTED: the session process died
    │   └── WireVersionError                                client and worker cannot talk
    ├── UnavailableError(GentfError, ConnectionError)       UNAVAILABLE, CANCELLED
    ├── DeadlineExceededError(GentfError, TimeoutError)     DEADLINE_EXCEEDED
    ├── UnimplementedError(GentfError, NotImplementedError) UNIMPLEMENTED
    └── InternalError(GentfError, RuntimeError)             INTERNAL, UNKNOWN, DATA_LOSS
    WorkerStartError(GentfError, RuntimeError)              an embedded worker did not start

Each carries ``code`` (the gRPC status name, e.g. ``"INVALID_ARGUMENT"``, or ``None`` for an
error found on the client) and ``details`` (the worker's message). When TensorFlow fails at
run time in a node of the client's graph, the message names that op and the user's line that
created it (``op 'Reshape' (Reshape), created at model.py:12``) and the error carries them as
``op_name``, ``op_type`` and ``source``.
"""

from __future__ import annotations

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "GentfError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "WireVersionError",
    "WorkerStartError",
]


class GentfError(Exception):
    """Base of every gentf error: ``code`` is the gRPC status name or None, ``details`` the message."""

    def __init__(self, details: str, code: str | None = None) -> None:
        super().__init__(details if code is None else f"{code}: {details}")
        self.details = details
        self.code = code
        self.failed_call: int | None = None
        """For a failed Batch: the index of the call that failed."""
        self.op_name: str | None = None
        """For a TensorFlow failure at run time: the client graph's name of the failing op."""
        self.op_type: str | None = None
        """The failing op's type (e.g. ``"Reshape"``), with :attr:`op_name`."""
        self.source: str | None = None
        """``FILE:LINE`` of the user's code that created the failing op, when known."""


class InvalidArgumentError(GentfError, ValueError):
    """A request was malformed: wrong dtype or shape, unknown op, attribute or node."""


class NotFoundError(GentfError, LookupError):
    """A session, function, node or trace the request names does not exist."""


class AlreadyExistsError(GentfError, ValueError):
    """A name is already taken by something different."""


class PermissionDeniedError(GentfError, PermissionError):
    """The worker refuses the request (e.g. an op that touches its files)."""


class UnauthenticatedError(PermissionDeniedError):
    """The worker needs a token (``tf.Session(token=...)`` or ``$GENTF_TOKEN``) and got none
    or a wrong one."""


class ResourceExhaustedError(GentfError, MemoryError):
    """A message exceeded the size cap, or the worker ran out of a resource."""


class FailedPreconditionError(GentfError, RuntimeError):
    """The request is valid but the state does not allow it (e.g. a closed session)."""


class AbortedError(FailedPreconditionError):
    """The session's process on the worker died (a TensorFlow crash, an out-of-memory kill,
    a call past its deadline): the session's state is lost; open a new session."""


class WireVersionError(FailedPreconditionError):
    """The worker speaks a revision of the gentf wire protocol this client cannot."""


class UnavailableError(GentfError, ConnectionError):
    """The worker cannot be reached."""


class DeadlineExceededError(GentfError, TimeoutError):
    """The call did not finish within its timeout."""


class UnimplementedError(GentfError, NotImplementedError):
    """The worker does not implement the call."""


class InternalError(GentfError, RuntimeError):
    """The worker failed in a way it did not foresee."""


class WorkerStartError(GentfError, RuntimeError):
    """An embedded local worker could not be started."""
