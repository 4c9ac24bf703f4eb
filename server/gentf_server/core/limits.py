"""Per-session bounds, and the errors that name the limit and the flag that raises it."""

from __future__ import annotations

from dataclasses import dataclass

from gentf_server.core import errors

__all__ = ["SessionLimits", "over_limit"]


@dataclass(frozen=True)
class SessionLimits:
    """Per-session bounds (every byte count in bytes; the flags take MiB).

    ``max_graph_nodes`` (``--max-graph-nodes``), ``max_graph_bytes`` (``--max-graph-mb``,
    serialized node definitions, constants included), ``max_graph_depth``
    (``--max-graph-depth``: longest input chain; TensorFlow overflows its stack on chains of
    a few tens of thousands), ``max_variable_bytes`` (``--max-variable-mb``, the sum of the
    session's variables), ``max_tensor_bytes`` (``--max-tensor-mb``: the largest tensor one
    op may produce by its static shape), ``trace_bytes`` (``--trace-mb``) and ``max_traces``
    for kept traces, ``max_runners`` (compiled RunOp signatures kept), ``max_blob_bytes``
    (``--max-blob-mb``: a session's blobs, the chunked big tensors on their way).
    """

    trace_bytes: int = 256 << 20
    max_traces: int = 100_000
    max_runners: int = 256
    max_graph_nodes: int = 100_000
    max_graph_bytes: int = 256 << 20
    max_graph_depth: int = 10_000
    max_variable_bytes: int = 16384 << 20
    max_tensor_bytes: int = 4096 << 20
    max_blob_bytes: int = 4096 << 20


def _amount(value: int, unit: str) -> str:
    if unit == "MiB":
        return f"{value / (1 << 20):,.1f} MiB"
    return f"{value:,}"


def over_limit(what: str, value: int, limit: int, flag: str, unit: str = "") -> errors.ResourceExhausted:
    """ResourceExhausted: ``what`` would be ``value``, over ``limit``; names ``flag``."""
    shown = _amount(value, unit) + ("" if unit == "MiB" else f" {unit}".rstrip())
    cap = _amount(limit, unit) + ("" if unit == "MiB" else f" {unit}".rstrip())
    return errors.ResourceExhausted(
        f"{what} would be {shown}, over this worker's limit of {cap} (raise it with {flag})")
