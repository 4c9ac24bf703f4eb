"""Prometheus metrics of a worker, served on ``--metrics-port`` (prometheus-client)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["WorkerMetrics"]


class WorkerMetrics:
    """RPCs by method and status, latencies, sessions, processes, kept traces, restarts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.rpcs = Counter("gentf_rpcs", "Worker RPCs answered, by method and status code",
                            ["method", "code"], registry=self.registry)
        self.latency = Histogram(
            "gentf_rpc_seconds", "Worker RPC latency at the front door, by method", ["method"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                     10, 30, 60), registry=self.registry)
        self.sessions = Gauge("gentf_sessions", "Open sessions", registry=self.registry)
        self.processes = Gauge("gentf_session_processes", "Live session processes (with warm ones)",
                               registry=self.registry)
        self.trace_bytes = Gauge("gentf_kept_trace_bytes",
                                 "Bytes of trace arguments kept by all sessions",
                                 registry=self.registry)
        self.batched_calls = Gauge(
            "gentf_batched_calls_total", "Calls answered from a merged TensorFlow call by the "
            "dynamic batcher (--max-batch-delay-us), over the live session processes",
            registry=self.registry)
        self.batches = Gauge(
            "gentf_merged_batches_total", "Merged TensorFlow calls the dynamic batcher ran, "
            "over the live session processes", registry=self.registry)
        self.direct_connections = Counter(
            "gentf_direct_connections", "Connections to the shared direct port (--direct-port), "
            "by outcome: handed_over to their session's process, or closed: no_session (the "
            "route names none with a direct door), bad_route (not a route, or none in time), "
            "busy (too many sending routes), not_taken (the process did not take it)",
            ["outcome"], registry=self.registry)
        self.restarts = Counter("gentf_session_process_restarts",
                                "Session processes that died with sessions in them (crash, OOM "
                                "kill, deadline)", registry=self.registry)

    def observe(self, method: str, code: str, seconds: float) -> None:
        """Counts one answered RPC."""
        self.rpcs.labels(method, code).inc()
        self.latency.labels(method).observe(seconds)

    def bind(self, sessions: Callable[[], float], processes: Callable[[], float],
             trace_bytes: Callable[[], float],
             stats: Callable[[str], float] | None = None) -> None:
        """Reads the gauges from these functions at every scrape (``stats(key)``: the
        batcher's ``batched_calls`` and ``batches``)."""
        self.sessions.set_function(sessions)
        self.processes.set_function(processes)
        self.trace_bytes.set_function(trace_bytes)
        if stats is not None:
            self.batched_calls.set_function(lambda: stats("batched_calls"))
            self.batches.set_function(lambda: stats("batches"))

    def serve(self, port: int, host: str) -> int:
        """Serves ``/metrics`` over HTTP; returns the bound port."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        self._http = server
        return int(server.server_port)

    def close(self) -> None:
        """Stops the HTTP server, if any."""
        server = getattr(self, "_http", None)
        if server is not None:
            server.shutdown()
            server.server_close()
