"""The one place where gRPC errors become gentf exceptions."""

from __future__ import annotations

import grpc

from gentf import errors

__all__ = ["FAILED_CALL_KEY", "REASON_KEY", "TRACE_NOT_FOUND", "TraceNotFoundError", "translate_rpc_error"]

REASON_KEY = "gentf-reason"
"""Trailing-metadata key the worker sets to say why a call failed, where it matters."""

TRACE_NOT_FOUND = "trace-not-found"
"""Reason value: the trace handle was dropped; resend the arguments."""

FAILED_CALL_KEY = "gentf-failed-call"
"""Trailing-metadata key of a failed Batch: the 0-based index of the call that failed."""


class TraceNotFoundError(errors.NotFoundError):
    """The worker no longer holds a trace's arguments (the client resends them)."""


_BY_CODE: dict[grpc.StatusCode, type[errors.GentfError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExistsError,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: errors.UnauthenticatedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhaustedError,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPreconditionError,
    grpc.StatusCode.ABORTED: errors.AbortedError,
    grpc.StatusCode.UNAVAILABLE: errors.UnavailableError,
    grpc.StatusCode.CANCELLED: errors.UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceededError,
    grpc.StatusCode.UNIMPLEMENTED: errors.UnimplementedError,
    grpc.StatusCode.INTERNAL: errors.InternalError,
    grpc.StatusCode.UNKNOWN: errors.InternalError,
    grpc.StatusCode.DATA_LOSS: errors.InternalError,
}


def translate_rpc_error(exc: grpc.RpcError, method: str) -> errors.GentfError:
    """Returns the gentf exception for a failed call of ``method`` (raise it ``from exc``)."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if isinstance(exc, grpc.Call) else None) or str(exc)
    reason = ""
    failed_call = None
    if isinstance(exc, grpc.Call):
        for key, value in exc.trailing_metadata() or ():
            text = value if isinstance(value, str) else value.decode()
            if key == REASON_KEY:
                reason = text
            elif key == FAILED_CALL_KEY:
                failed_call = int(text)
    cls = _BY_CODE.get(code, errors.InternalError)
    if code == grpc.StatusCode.NOT_FOUND and reason == TRACE_NOT_FOUND:
        cls = TraceNotFoundError
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        details = f"{method}: {details}"
    error = cls(details, code.name)
    error.failed_call = failed_call
    return error
