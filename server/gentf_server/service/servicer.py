"""Interim in-process servicer: gentf.v1.Worker as raw bytes handed to a core Dispatcher.

Transport only: no request is parsed here; the Dispatcher's Outcome becomes the gRPC status.
"""

from __future__ import annotations

from typing import Any

import grpc

from gentf_server.calls import METHOD_NAMES, Outcome

__all__ = ["SERVICE_NAME", "worker_handler"]

SERVICE_NAME = "gentf.v1.Worker"


def worker_handler(dispatch: Any) -> grpc.GenericRpcHandler:
    """A generic handler serving every Worker method through ``dispatch(method, bytes)``."""

    def make(method: str) -> Any:
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            outcome: Outcome = dispatch(method, request)
            if outcome.ok:
                return outcome.reply
            if outcome.metadata:
                context.set_trailing_metadata(tuple(outcome.metadata))
            context.abort(getattr(grpc.StatusCode, outcome.code), outcome.message)
            raise AssertionError("unreachable")

        return grpc.unary_unary_rpc_method_handler(handle)

    return grpc.method_handlers_generic_handler(
        SERVICE_NAME, {name: make(name) for name in METHOD_NAMES})
