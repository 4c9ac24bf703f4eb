"""The client's connection to one worker: a gRPC channel (TLS when given root certificates),
the bearer token sent with every call, the stub, error translation."""

from __future__ import annotations

import collections
import random
import time
from typing import Any

import grpc

from gentf.graph._core import Graph
from gentf.v1 import worker_pb2_grpc
from gentf.wire._errors import translate_rpc_error

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "IDEMPOTENT_METHODS", "Transport", "retryable"]

DEFAULT_MAX_MESSAGE_BYTES = 256 << 20


IDEMPOTENT_METHODS = frozenset((
    "GetWorkerInfo", "GetOpRegistry", "CreateSession", "RenewLease", "CloseSession",
    "ExtendGraph", "Construct", "Generate", "ChoiceGradients", "AddGradients", "Checkpoint",
    "RestoreCheckpoint"))
"""Methods whose repetition changes nothing a caller sees (a repeated CreateSession leaves
at most an idle session, which its lease ends; Generate at most an unused trace)."""


def retryable(method: str, request: Any) -> bool:
    """True when ``request`` may be sent again after UNAVAILABLE: an idempotent method, or a
    changing call (RunOp, AccumulateParamGradients, a Batch of them) whose every changing
    part carries a request id, which the worker applies once."""
    if method in IDEMPOTENT_METHODS:
        return True
    if method in ("RunOp", "AccumulateParamGradients"):
        return bool(request.request_id)
    if method == "Batch":
        for call in request.calls:
            kind = call.WhichOneof("call")
            if kind in ("run_op", "accumulate_param_gradients") and not getattr(
                    call, kind).request_id:
                return False
        return True
    return False


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
            # a restarted worker is found again within about a second
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1_000),
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
        """Calls ``method`` (e.g. ``"Generate"``); returns the reply or raises a GentfError.

        A call that is safe to repeat (see :func:`retryable`: idempotent methods, and
        changing calls that carry a request id) is retried on UNAVAILABLE with exponential
        backoff (50 ms doubling to 2 s, jittered) until ``timeout`` seconds have passed
        since it started; then the last UNAVAILABLE is raised.
        """
        budget = timeout or self.timeout
        deadline = time.monotonic() + budget
        delay = 0.05
        repeat = retryable(method, request)
        while True:
            self.calls[method] += 1
            try:
                return getattr(self._stub, method)(request, timeout=budget,
                                                   wait_for_ready=wait_for_ready,
                                                   metadata=self._metadata)
            except grpc.RpcError as exc:
                left = deadline - time.monotonic()
                if (repeat and exc.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
                        and left > delay):
                    time.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(2 * delay, 2.0)
                    budget = max(deadline - time.monotonic(), 0.001)
                    continue
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
