"""Building, starting and stopping a worker: the gRPC front door and its supervisor.

:class:`WorkerServer` has a plain synchronous interface (``start``, ``stop``, ``port``). The
front door is a synchronous gRPC server: each call runs on one of its threads, which
forwards a session's call to its process and waits (``--front-door-threads`` of them:
enough for every owner's ``--max-calls-per-owner``). The supervisor (session processes, leases) runs on
an event loop in a thread of its own. On 2 cores, a scratch relay of a 313 KB request to a
Unix socket took about half the CPU on a synchronous gRPC server that it took on a
``grpc.aio`` one; gentf's front door took 10% less than as a ``grpc.aio`` server
(docs/performance.md). Health and server reflection are served beside ``gentf.v1.Worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc
from gentf.v1 import worker_pb2  # noqa: F401 - registers gentf.v1 descriptors for reflection
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gentf_server.service.auth import Authenticator, AuthInterceptor
from gentf_server.service.frontdoor import SERVICE_NAME, DirectOffer, FrontDoor
from gentf_server.service.metrics import WorkerMetrics
from gentf_server.supervisor.shared_port import SharedDirectPort
from gentf_server.supervisor.supervisor import Supervisor, SupervisorConfig

__all__ = ["WorkerConfig", "WorkerServer", "background_server"]

log = logging.getLogger("gentf_server")


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker listens, whom it lets in, and what it allows."""

    host: str = "127.0.0.1"
    port: int = 50051
    max_message_bytes: int = 256 << 20
    max_reply_bytes: int | None = None
    threads: int = 8
    max_calls_per_owner: int = 64
    """``--max-calls-per-owner``: calls (blob streams included) one owner may have in
    flight at once; one more is RESOURCE_EXHAUSTED."""
    front_door_threads: int = 0
    """``--front-door-threads``: calls the front door serves at once, each waiting on its
    session process in a thread of its own; 0 (default): ``max_calls_per_owner`` for each
    of ``max_session_processes`` owners, and 16 more, so that no owner's calls can keep
    another's waiting."""

    def front_door_pool(self) -> int:
        """The front door's thread count (``front_door_threads`` or its default)."""
        if self.front_door_threads > 0:
            return max(self.front_door_threads, 2)
        return self.max_calls_per_owner * self.max_session_processes + 16
    default_lease_seconds: float = 3600.0
    max_sessions: int = 64
    trace_bytes: int = 256 << 20
    tokens: tuple[str, ...] = ()
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    isolation: str = "process"
    max_session_processes: int = 16
    advertise_host: str = ""
    """``--advertise-host``: the name clients reach this host by; each owner's session
    process then serves its sessions' calls on a port of its own too (``supervisor.direct``);
    with ``direct_port``, the name that port is offered under ("": the host each client
    dialed). "" and no ``direct_port`` (default): every call goes through the front door."""
    direct_ports: tuple[int, int] | None = None
    """``--direct-ports``: the port range session processes' direct doors take (None: any)."""
    direct_port: int | None = None
    """``--direct-port``: the one port (0: any free one) where every session's direct calls
    come in, each connection handed to its session's process (``supervisor.shared_port``);
    None (default): no shared port."""
    warm_processes: int = 1
    idle_process_seconds: float = 30.0
    session_memory_mb: int = 0
    call_deadline_seconds: float = 600.0
    metrics_port: int | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    log_level: str = "INFO"
    state_dir: str | None = None
    """Where named sessions are checkpointed (``--state-dir``); None: no named sessions."""
    checkpoint_seconds: float = 30.0
    """A changed named session is saved at most this often; 0: after every changing call."""
    strategy: str = "none"
    """``--strategy``: "none" (one device), "mirrored" (tf.distribute.MirroredStrategy) or
    "parameter-server" (this process the chief of the ``TF_CONFIG`` cluster; needs
    ``isolation="none"``)."""
    logical_cpus: int = 0
    """``--logical-cpus``: split the CPU into this many logical devices (0: leave it whole)."""
    require_gpu: bool = False
    """``--gpus required``: a session process without a GPU fails to start."""
    thread_spinning: bool = False
    """``--thread-spinning on``: TensorFlow's op threads spin for work after each op (its
    default); off, they sleep, leaving the CPU to the other processes of the step."""
    jit_compile: bool = False
    """``--jit-compile``: fused Batches compile with XLA (``core.functions.FusedCall``)."""
    intra_op_threads: int = 0
    """``--intra-op-threads``: threads one op may use (0: TensorFlow's choice)."""
    inter_op_threads: int = 0
    """``--inter-op-threads``: ops run at once (0: TensorFlow's choice)."""
    max_batch_delay_us: int = 0
    """``--max-batch-delay-us``: how long a call of a batched function waits for others to
    merge with (0: the dynamic batcher is off; see ``core.batcher``)."""
    max_batch_rows: int = 1024
    """``--max-batch-rows``: the most rows one merged call takes."""

    def child_config(self) -> dict[str, Any]:
        """The configuration a session process gets."""
        return {
            "max_message_bytes": self.max_message_bytes,
            "max_reply_bytes": self.max_reply_bytes,
            "lease_seconds": self.default_lease_seconds,
            "max_sessions": self.max_sessions,
            "memory_mb": self.session_memory_mb,
            "limits": {"trace_bytes": self.trace_bytes, **self.limits},
            "log_level": self.log_level,
            "state_dir": self.state_dir,
            "checkpoint_seconds": self.checkpoint_seconds,
            "devices": {"strategy": self.strategy, "logical_cpus": self.logical_cpus,
                        "require_gpu": self.require_gpu,
                        "thread_spinning": self.thread_spinning,
                        "jit_compile": self.jit_compile,
                        "intra_op_threads": self.intra_op_threads,
                        "inter_op_threads": self.inter_op_threads},
            "batching": {"max_delay_us": self.max_batch_delay_us,
                         "max_rows": self.max_batch_rows},
        }


class WorkerServer:
    """A running worker: front door, health, reflection, metrics, session processes."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.metrics = WorkerMetrics()
        self.supervisor = Supervisor(SupervisorConfig(
            child=config.child_config(), isolation=config.isolation,
            max_processes=config.max_session_processes, warm_processes=config.warm_processes,
            idle_seconds=config.idle_process_seconds,
            threads=config.threads))
        self.supervisor.counters.listeners.append(lambda reason: self.metrics.restarts.inc())
        self.port = 0
        self.metrics_port: int | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gentf-frontdoor",
                                        daemon=True)
        self._server: grpc.Server | None = None
        self.health: Any = None
        self.door: FrontDoor | None = None
        self.shared_direct: SharedDirectPort | None = None
        """The shared direct port (``--direct-port``), once listening."""

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        host = self.config.host if self.config.host not in ("0.0.0.0", "::", "[::]") else "127.0.0.1"
        return f"{host}:{self.port}"

    @property
    def sessions(self) -> Any:
        """The in-process SessionManager (isolation "none" only; for tests and tools)."""
        backend = self.supervisor.inprocess
        if backend is None:
            raise AttributeError("sessions live in session processes (isolation 'process')")
        return backend.manager

    def _run(self, coro: Any, timeout: float | None = None) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def start(self) -> None:
        """Binds the port, starts the session processes' pool and serves; OSError when the
        address cannot be bound."""
        self._thread.start()
        try:
            self._start()
        except BaseException:
            if self._server is not None:
                self._server.stop(0)
            if self.shared_direct is not None:
                self.shared_direct.close()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()
            raise
        if self.config.metrics_port is not None:
            def stats(key: str) -> float:
                return float(self._run(self.supervisor.stats(), 10)[key])

            self.metrics.bind(
                lambda: float(self.supervisor.session_count()),
                lambda: float(self.supervisor.process_count()),
                lambda: stats("trace_bytes"), stats)
            self.metrics_port = self.metrics.serve(self.config.metrics_port, self.config.host)
            log.info("metrics on http://%s:%d/metrics", self.config.host, self.metrics_port)
        log.info("gentf worker listening on %s (%s, isolation %s)", self.address,
                 "TLS" if self.config.tls_cert else "plaintext", self.config.isolation)

    def _start(self) -> None:
        config = self.config
        auth = Authenticator(config.tokens)
        options = [
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.server(
            ThreadPoolExecutor(max_workers=config.front_door_pool(),
                               thread_name_prefix="gentf-front-door"),
            interceptors=[AuthInterceptor(auth)], options=options)
        self._server = server
        direct = None
        offered = config.advertise_host or config.direct_port is not None
        if offered and config.isolation == "process":
            shared = None
            if config.direct_port is not None:
                counter = self.metrics.direct_connections
                self.shared_direct = SharedDirectPort(
                    config.host, config.direct_port, self.supervisor.direct_handoff,
                    lambda outcome: counter.labels(outcome).inc())
                shared = self.shared_direct.port
            direct = DirectOffer(config.advertise_host, {
                "host": config.host, "max_message_bytes": config.max_message_bytes,
                "max_calls": config.max_calls_per_owner,
                "deadline_seconds": config.call_deadline_seconds,
                "tls_cert": config.tls_cert.decode() if config.tls_cert else None,
                "tls_key": config.tls_key.decode() if config.tls_key else None,
                "ports": config.direct_ports}, shared)
        self.door = FrontDoor(self.supervisor, auth, self.metrics, config.call_deadline_seconds,
                              self._loop, config.max_calls_per_owner, direct)
        server.add_generic_rpc_handlers((self.door.handler(),))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        target = f"{config.host}:{config.port}"
        if config.tls_cert is not None and config.tls_key is not None:
            creds = grpc.ssl_server_credentials([(config.tls_key, config.tls_cert)])
            self.port = server.add_secure_port(target, creds)
        else:
            self.port = server.add_insecure_port(target)
        if self.port == 0:
            raise OSError(f"cannot listen on {target}")
        self._run(self.supervisor.start())
        server.start()
        if self.shared_direct is not None:
            self.shared_direct.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def wait(self) -> None:
        """Blocks until the server stops."""
        self._thread.join()

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Ordered shutdown: NOT_SERVING, calls in flight get the grace period, then every
        session process ends. Returns within about twice the grace period."""
        if not self._thread.is_alive():
            return
        log.info("shutting down (grace %.1f s)", grace_seconds)
        try:
            self._run(self._stop(grace_seconds), timeout=2 * grace_seconds + 10)
        except Exception as exc:  # noqa: BLE001 - stop anyway
            log.warning("shutdown did not finish cleanly: %s", exc)
        self.metrics.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()  # its self-pipe sockets too
        log.info("worker stopped")

    async def _stop(self, grace_seconds: float) -> None:
        if self.health is not None:
            self.health.enter_graceful_shutdown()
        if self.shared_direct is not None:
            self.shared_direct.close()
        if self._server is not None:
            stopped = self._server.stop(grace_seconds)
            await asyncio.get_running_loop().run_in_executor(None, stopped.wait)
        self.supervisor.config.grace_seconds = min(self.supervisor.config.grace_seconds,
                                                   grace_seconds)
        await self.supervisor.stop()


@contextlib.contextmanager
def background_server(config: WorkerConfig | None = None) -> Iterator[WorkerServer]:
    """Starts a real worker on loopback (port 0: any free port) for the ``with`` block."""
    server = WorkerServer(config or WorkerConfig(port=0))
    server.start()
    try:
        yield server
    finally:
        server.stop(grace_seconds=0.5)
