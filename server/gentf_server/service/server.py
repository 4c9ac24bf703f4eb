"""Building, starting and stopping a worker's gRPC server."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gentf_server.core.dispatch import Dispatcher
from gentf_server.core.registry import op_registry
from gentf_server.core.session import SessionLimits
from gentf_server.core.sessions import SessionManager
from gentf_server.service.servicer import SERVICE_NAME, worker_handler

__all__ = ["WorkerConfig", "WorkerServer", "background_server"]

log = logging.getLogger("gentf_server")


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker listens and what it allows."""

    host: str = "127.0.0.1"
    port: int = 50051
    max_message_bytes: int = 256 << 20
    threads: int = 8
    default_lease_seconds: float = 3600.0
    max_sessions: int = 64
    trace_bytes: int = 256 << 20


class WorkerServer:
    """A running worker: gRPC server, health service and session manager."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.sessions = SessionManager(
            op_registry(), default_lease_seconds=config.default_lease_seconds,
            max_sessions=config.max_sessions, limits=SessionLimits(trace_bytes=config.trace_bytes))
        options = [
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
            ("grpc.so_reuseport", 0),
        ]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=config.threads,
                                                              thread_name_prefix="gentf-rpc"),
                                   options=options)
        self.dispatcher = Dispatcher(self.sessions, config.max_message_bytes)
        self._server.add_generic_rpc_handlers((worker_handler(self.dispatcher.handle),))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self.port = self._server.add_insecure_port(f"{config.host}:{config.port}")
        if self.port == 0:
            raise OSError(f"cannot listen on {config.host}:{config.port}")

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        host = self.config.host if self.config.host not in ("0.0.0.0", "::", "[::]") else "127.0.0.1"
        return f"{host}:{self.port}"

    def start(self) -> None:
        """Starts serving and reports SERVING on the health service."""
        self._server.start()
        self.sessions.start_reaper()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("gentf worker listening on %s", self.address)

    def wait(self) -> None:
        """Blocks until the server stops."""
        self._server.wait_for_termination()

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Ordered shutdown: NOT_SERVING, stop with a grace period, close sessions."""
        log.info("shutting down: health NOT_SERVING")
        self.health.enter_graceful_shutdown()
        log.info("stopping the gRPC server (grace %.1f s)", grace_seconds)
        self._server.stop(grace_seconds).wait()
        self.sessions.stop_reaper()
        log.info("closing %d session(s)", len(self.sessions))
        self.sessions.close_all()
        log.info("worker stopped")


@contextlib.contextmanager
def background_server(config: WorkerConfig | None = None) -> Iterator[WorkerServer]:
    """Starts a real worker on loopback (port 0: any free port) for the ``with`` block."""
    server = WorkerServer(config or WorkerConfig(port=0))
    server.start()
    try:
        yield server
    finally:
        server.stop(grace_seconds=0.5)
