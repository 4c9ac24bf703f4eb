"""The client's connection to one worker: a gRPC channel (TLS when given root certificates),
the bearer token sent with every call, the stub, error translation."""

from __future__ import annotations

import collections
from typing import Any

import grpc

from gentf.graph._core import Graph
from gentf.v1 import worker_pb2_grpc
from gentf.wire._errors import translate_rpc_error

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "Transport"]

DEFAULT_MAX_MESSAGE_BYTES = 256 << 20


class Transport:
    """Calls worker RPCs by name with a timeout; failures raise gentf exceptions.

    One channel per worker address is reused for every call. With ``graph`` (the session's
    client graph), a TensorFlow failure at run time names the graph's failing op and the
    user's line that created it.
    """

    def __init__(self, address: str, timeout: float = 300.0,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, *,
                 token: str | None = None, root_certificates: bytes | None = None,
                 graph: Graph | None = None) -> None:
        self.address = address
        self.graph = graph
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
        ]
        if root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = worker_pb2_grpc.WorkerStub(self._channel)  # type: ignore[no-untyped-call]
        self.calls: collections.Counter[str] = collections.Counter()
        """Round trips made, by RPC name (for benchmarks and tests)."""

    def call(self, method: str, request: Any, timeout: float | None = None,
             wait_for_ready: bool = False) -> Any:
        """Calls ``method`` (e.g. ``"Generate"``); returns the reply or raises a GentfError."""
        self.calls[method] += 1
        try:
            return getattr(self._stub, method)(request, timeout=timeout or self.timeout,
                                               wait_for_ready=wait_for_ready,
                                               metadata=self._metadata)
        except grpc.RpcError as exc:
            lookup = None if self.graph is None else self._node
            raise translate_rpc_error(exc, method, lookup) from exc

    def _node(self, name: str) -> tuple[str, str] | None:
        """``(op type, creation line)`` of the client graph's node ``name``, or None."""
        assert self.graph is not None
        try:
            op = self.graph.get_operation_by_name(name)
        except KeyError:
            return None
        return op.type, op.source

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()
