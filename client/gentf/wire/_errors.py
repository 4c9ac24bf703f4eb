"""The one place where gRPC errors become gentf exceptions.

A TensorFlow failure at run time names the failing node as TensorFlow does
(``[[{{node g/Reshape}}]]``, with the worker's import scope in front). Given a lookup of the
client graph's nodes, :func:`translate_rpc_error` replaces that with the client's op name
and the user's line that created it (:func:`name_failing_op`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import grpc

from gentf import errors

__all__ = [
    "FAILED_CALL_KEY",
    "REASON_KEY",
    "TRACE_NOT_FOUND",
    "NodeLookup",
    "TraceNotFoundError",
    "name_failing_op",
    "translate_rpc_error",
]

NodeLookup = Callable[[str], tuple[str, str] | None]
"""A client graph's nodes by name: ``lookup(name)`` is ``(op type, "FILE:LINE")`` (the
source may be ``""``), or None for a name the graph does not have."""

_NODE = re.compile(r"\{\{node ([^}]+)\}\}")
_NODE_LINE = re.compile(r"\s*\[\[\{\{node [^}]+\}\}\]\]")
_FUNCTION_NODE = re.compile(r"\{\{function_node __[^}]*\}\}\s*")
_OP_SUFFIX = re.compile(r"\s*\[Op:__inference[^\]]*\]")
_GRADIENT = re.compile(r"^gradients(?:_\d+)?/(.+?)_grad/")

WORKER_SCOPE = "g/"
"""The name scope the worker imports a client graph's nodes under (its importer's ``name``);
runtime errors name nodes with it in front."""

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


def translate_rpc_error(exc: grpc.RpcError, method: str,
                        nodes: NodeLookup | None = None) -> errors.GentfError:
    """Returns the gentf exception for a failed call of ``method`` (raise it ``from exc``).

    With ``nodes`` (the client graph's lookup), a TensorFlow runtime failure names the
    client's op and its creation line (see :func:`name_failing_op`).
    """
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
    if nodes is not None:
        name_failing_op(error, nodes)
    return error


def _candidates(worker_name: str) -> tuple[list[str], bool]:
    """Client names a worker node name may stand for, most likely first, and whether the
    node is part of a gradient. A gradient node (``gradients/g/x/Reshape_grad/...``)
    stands for its forward op; the worker's import scope (``g/``) is dropped first; then
    the name as given; then shorter suffixes."""
    match = _GRADIENT.match(worker_name)
    name = match.group(1) if match else worker_name
    names = [name[len(WORKER_SCOPE):]] if name.startswith(WORKER_SCOPE) else []
    parts = name.split("/")
    names += ["/".join(parts[k:]) for k in range(len(parts))]
    return list(dict.fromkeys(names)), match is not None


def name_failing_op(error: errors.GentfError, nodes: NodeLookup) -> bool:
    """Rewrites ``error``'s message so a TensorFlow runtime failure names the client's op and
    the line that created it: TensorFlow's ``[[{{node g/Reshape}}]]`` becomes
    ``op 'Reshape' (Reshape), created at FILE:LINE`` (``in the gradient of op ...`` for a
    node of a gradient TensorFlow built), and the error's ``op_name``,
    ``op_type`` and ``source`` are set (from the first node that resolves). TensorFlow's
    function-call noise (``{{function_node __inference_...}}``, ``[Op:__inference_...]``)
    is dropped. Returns whether a node was resolved; the message is unchanged otherwise.
    """
    found: list[tuple[str, str, str, bool]] = []
    for worker_name in _NODE.findall(error.details):
        names, in_gradient = _candidates(worker_name)
        for name in names:
            info = nodes(name)
            if info is not None:
                if all(name != f[0] for f in found):
                    found.append((name, info[0], info[1], in_gradient))
                break
    if not found:
        return False
    text = _OP_SUFFIX.sub("", _FUNCTION_NODE.sub("", error.details))
    text = _NODE_LINE.sub("", text).rstrip()
    for name, op_type, source, in_gradient in found:
        where = f", created at {source}" if source else ""
        text += f"\n  {'in the gradient of ' if in_gradient else ''}op {name!r} ({op_type}){where}"
    error.op_name, error.op_type, error.source = found[0][0], found[0][1], found[0][2] or None
    error.details = text
    error.args = (text if error.code is None else f"{error.code}: {text}",)
    return True
