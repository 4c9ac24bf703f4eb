"""``gentf-worker``: the worker's command line."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line (see ``gentf-worker --help``)."""
    p = argparse.ArgumentParser(prog="gentf-worker", description="Serve gentf sessions over gRPC.")
    p.add_argument("--host", default=os.environ.get("GENTF_HOST", "127.0.0.1"),
                   help="address to listen on (0.0.0.0 for every interface; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GENTF_PORT", "50051")),
                   help="port (0 picks a free one; default 50051)")
    p.add_argument("--max-message-mb", type=int, default=256,
                   help="cap on one message in either direction, MiB (default 256)")
    p.add_argument("--threads", type=int, default=8, help="RPC threads (default 8)")
    p.add_argument("--lease-seconds", type=float, default=3600.0,
                   help="default session lease, renewed by every call (default 3600)")
    p.add_argument("--max-sessions", type=int, default=64, help="most sessions at once (default 64)")
    p.add_argument("--trace-mb", type=int, default=256,
                   help="per-session memory for kept trace arguments, MiB (default 256)")
    p.add_argument("--port-file", default=None,
                   help="write the bound port to this file once serving (for launchers)")
    p.add_argument("--log-level", default=os.environ.get("GENTF_LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (default INFO)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs a worker until SIGINT/SIGTERM (or the parent of an embedded worker goes away)."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from gentf_server.core.devices import configure_devices
    from gentf_server.service.server import WorkerConfig, WorkerServer

    configure_devices()
    server = WorkerServer(WorkerConfig(
        host=args.host, port=args.port, max_message_bytes=args.max_message_mb << 20,
        threads=args.threads, default_lease_seconds=args.lease_seconds,
        max_sessions=args.max_sessions, trace_bytes=args.trace_mb << 20))
    server.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.port))
        os.replace(tmp, args.port_file)
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        logging.getLogger("gentf_server").info("signal %d received", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = os.getppid()
    watch_parent = os.environ.get("GENTF_EMBEDDED") == "1"
    while not done.wait(1.0):
        if watch_parent and os.getppid() != parent:
            logging.getLogger("gentf_server").info("parent process gone")
            break
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
