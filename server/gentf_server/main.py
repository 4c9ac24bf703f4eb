"""``gentf-worker``: the worker's command line."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading

__all__ = ["main", "parse_args"]

log = logging.getLogger("gentf_server")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line (see ``gentf-worker --help``)."""
    p = argparse.ArgumentParser(prog="gentf-worker", description="Serve gentf sessions over gRPC.")
    net = p.add_argument_group("listening and access")
    net.add_argument("--host", default=os.environ.get("GENTF_HOST", "127.0.0.1"),
                     help="address to listen on (0.0.0.0 for every interface; default 127.0.0.1)")
    net.add_argument("--port", type=int, default=int(os.environ.get("GENTF_PORT", "50051")),
                     help="port (0 picks a free one; default 50051)")
    net.add_argument("--port-file", default=None,
                     help="write the bound port to this file once serving (for launchers)")
    net.add_argument("--token-file", default=None,
                     help="bearer tokens, one a line: every RPC but health needs "
                          "'authorization: Bearer <token>'; a token names its owner")
    net.add_argument("--tls-cert", default=None, help="PEM certificate chain: serve TLS")
    net.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    net.add_argument("--insecure", action="store_true",
                     help="allow a non-loopback --host without --token-file and TLS")
    net.add_argument("--metrics-port", type=int, default=None,
                     help="serve Prometheus metrics on this port (same host; 0: any free port)")
    lim = p.add_argument_group("sessions and limits")
    lim.add_argument("--max-message-mb", type=int, default=256,
                     help="cap on one gRPC message in either direction, MiB (default 256)")
    lim.add_argument("--max-reply-mb", type=int, default=None,
                     help="most one call may return, MiB, chunked tensors included "
                          "(default: no quota but --max-blob-mb)")
    lim.add_argument("--max-blob-mb", type=int, default=4096,
                     help="most bytes of big tensors in transit (chunked uploads and replies "
                          "not yet fetched) one session may hold, MiB (default 4096)")
    lim.add_argument("--lease-seconds", type=float, default=3600.0,
                     help="default session lease, renewed by every call (default 3600)")
    lim.add_argument("--max-sessions", type=int, default=64,
                     help="most sessions one owner may hold at once (default 64)")
    lim.add_argument("--trace-mb", type=int, default=256,
                     help="per-session memory for kept traces (their arguments and the "
                          "tensors their forwards saved for gradients), MiB (default 256)")
    lim.add_argument("--max-graph-nodes", type=int, default=100_000,
                     help="most nodes in one session's graph (default 100000)")
    lim.add_argument("--max-graph-mb", type=int, default=256,
                     help="most bytes of one session's graph definition, MiB (default 256)")
    lim.add_argument("--max-graph-depth", type=int, default=10_000,
                     help="longest input chain in one session's graph (default 10000)")
    lim.add_argument("--max-variable-mb", type=int, default=16384,
                     help="most bytes of one session's variables, MiB (default 16384)")
    lim.add_argument("--max-tensor-mb", type=int, default=4096,
                     help="largest tensor an op may produce by its static shape, MiB (default 4096)")
    lim.add_argument("--call-deadline-seconds", type=float, default=600.0,
                     help="longest one call may run; past it the call is DEADLINE_EXCEEDED and "
                          "its session process is stopped (default 600)")
    dur = p.add_argument_group("durable named sessions")
    dur.add_argument("--state-dir", default=os.environ.get("GENTF_STATE_DIR") or None,
                     help="keep each named session's variables as TensorFlow checkpoints under "
                          "DIR/<name>/ (created if missing; default: no named sessions)")
    dur.add_argument("--checkpoint-seconds", type=float, default=30.0,
                     help="save a changed named session at most every S seconds, off the "
                          "request path; 0: after every call that changed a variable, before "
                          "replying (default 30)")
    iso = p.add_argument_group("session processes")
    iso.add_argument("--isolation", choices=["process", "none"], default=None,
                     help="'process' (default): each owner's sessions run in a supervised child "
                          "process; 'none': in the worker's own process (single user only; "
                          "the default and the only choice with --strategy parameter-server)")
    iso.add_argument("--advertise-host", default=os.environ.get("GENTF_ADVERTISE_HOST", ""),
                     help="host name or address by which clients reach this host for direct "
                          "calls: with --direct-port, the name that port is offered under "
                          "(default: the host each client dialed); without it, each owner's "
                          "session process also serves its sessions' calls on a port of its "
                          "own (on --host), with the same TLS and token checks, and clients "
                          "use it unless GENTF_DIRECT=0 (they skip the front door's relay); "
                          "default: off ($GENTF_ADVERTISE_HOST)")
    iso.add_argument("--direct-port", type=int,
                     default=os.environ.get("GENTF_DIRECT_PORT") or None, metavar="PORT",
                     help="one port (on --host; 0: any free one) where clients send their "
                          "sessions' calls straight to the sessions' processes, skipping the "
                          "front door's relay, with the same TLS and token checks: each "
                          "connection names its session and is handed to that session's "
                          "process; clients use it unless GENTF_DIRECT=0 (default: off; "
                          "$GENTF_DIRECT_PORT)")
    iso.add_argument("--direct-ports", default=os.environ.get("GENTF_DIRECT_PORTS", ""),
                     metavar="LOW-HIGH",
                     help="with --advertise-host and no --direct-port: the ports session "
                          "processes take for direct "
                          "calls, one each (for a container that publishes them); default: "
                          "any free port ($GENTF_DIRECT_PORTS)")
    iso.add_argument("--max-session-processes", type=int, default=16,
                     help="most owners with a session process at once (default 16)")
    iso.add_argument("--warm-processes", type=int, default=1,
                     help="session processes kept started ahead, TensorFlow imported (default 1)")
    iso.add_argument("--idle-process-seconds", type=float, default=30.0,
                     help="how long an owner's process outlives its last session (memory is "
                          "returned at close either way; default 30)")
    iso.add_argument("--session-memory-mb", type=int, default=0,
                     help="RLIMIT_DATA of each session process, MiB (default 0: no limit)")
    dist = p.add_argument_group("devices (tf.distribute)")
    dist.add_argument("--strategy", choices=["none", "mirrored", "parameter-server"],
                      default="none",
                      help="'mirrored': replicate each session's variables over the devices "
                           "(the GPUs, else the --logical-cpus) with MirroredStrategy and split "
                           "the rows of batched=True functions over them; 'parameter-server': "
                           "be the chief of the TF_CONFIG cluster (ParameterServerStrategy): "
                           "variables on its ps hosts, each call run on one of its worker "
                           "hosts; 'none' (default): one device")
    dist.add_argument("--logical-cpus", type=int, default=0,
                      help="split the CPU into N logical devices (for --strategy mirrored "
                           "without GPUs; default 0: leave it whole)")
    dist.add_argument("--gpus", choices=["auto", "required"], default="auto",
                      help="'required': a session process that finds no GPU refuses to start "
                           "(default 'auto': use GPUs when there are any, and say when not)")
    dist.add_argument("--thread-spinning", choices=["on", "off"], default="off",
                      help="'on': TensorFlow's op threads spin for more work after each op, "
                           "as TensorFlow does by default (lower latency when the host has "
                           "cores to spare); 'off' (default): they sleep, leaving the CPU to "
                           "the front door, the other sessions and a client on the same host")
    dist.add_argument("--jit-compile", action="store_true",
                      help="compile each fused Batch (a one-round-trip training step) with XLA, "
                           "as TensorFlow's jit_compile=True does: faster steps, whose values "
                           "XLA rounds its own way (not bit for bit TensorFlow's kernels'); "
                           "the first step of each kind pays the compile, and a Batch XLA "
                           "cannot compile runs on TensorFlow's kernels (default: off)")
    dist.add_argument("--intra-op-threads", type=int, default=0,
                      help="threads one TensorFlow op may use (default 0: TensorFlow's choice)")
    dist.add_argument("--inter-op-threads", type=int, default=0,
                      help="TensorFlow ops run at once (default 0: TensorFlow's choice)")
    bat = p.add_argument_group("dynamic batching")
    bat.add_argument("--max-batch-delay-us", type=int, default=0,
                     help="merge concurrent calls of one batched=True function of a session "
                          "into one TensorFlow call, a call waiting at most this many "
                          "microseconds for others (default 0: off)")
    bat.add_argument("--max-batch-rows", type=int, default=1024,
                     help="the most rows one merged call takes; a call with more runs on its "
                          "own (default 1024)")
    p.add_argument("--threads", type=int, default=8,
                   help="call threads of the in-process backend (--isolation none; default 8)")
    p.add_argument("--max-calls-per-owner", type=int, default=64,
                   help="calls (blob streams included) one owner may have in flight at once; "
                        "one more is RESOURCE_EXHAUSTED (default 64)")
    p.add_argument("--front-door-threads", type=int, default=0,
                   help="calls the front door serves at once, each on a thread that waits for "
                        "its session process (default 0: --max-calls-per-owner for each of "
                        "--max-session-processes owners, and 16 more)")
    p.add_argument("--log-level", default=os.environ.get("GENTF_LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (default INFO)")
    args = p.parse_args(argv)
    if args.isolation is None:
        args.isolation = "none" if args.strategy == "parameter-server" else "process"
    if args.advertise_host and args.isolation == "none":
        p.error("--advertise-host needs --isolation process (with 'none' the front door "
                "runs the sessions itself: there is no process to call directly)")
    if args.direct_port is not None and args.isolation == "none":
        p.error("--direct-port needs --isolation process (with 'none' the front door runs "
                "the sessions itself: there is no process to call directly)")
    if args.direct_port is not None and not 0 <= args.direct_port <= 65535:
        p.error(f"--direct-port {args.direct_port}: a port is 0-65535")
    if args.direct_port is not None and args.direct_ports:
        p.error("--direct-ports gives each session process a port of its own; --direct-port "
                "serves them all on one: choose one of the two")
    args.direct_ports = _port_range(p, args.direct_ports)
    if args.isolation == "process" and args.strategy == "parameter-server":
        p.error("--strategy parameter-server runs sessions in the worker's own process (the "
                "TF_CONFIG cluster has one chief task, which several session processes cannot "
                "all be): drop --isolation process")
    return args


def _port_range(p: argparse.ArgumentParser, text: str) -> tuple[int, int] | None:
    """``(low, high)`` of ``--direct-ports LOW-HIGH`` (None when empty); a usage error
    otherwise."""
    if not text:
        return None
    low, sep, high = text.partition("-")
    if not (sep and low.isdigit() and high.isdigit() and 0 < int(low) <= int(high) < 65536):
        p.error(f"--direct-ports {text!r}: give LOW-HIGH, two port numbers with LOW <= HIGH")
    return int(low), int(high)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_parameter_server() -> str | None:
    """Why ``--strategy parameter-server`` cannot start with this ``TF_CONFIG`` (None: it
    can; the cluster is logged)."""
    from gentf_server.core.cluster import TFConfigError, parse_tf_config

    try:
        config = parse_tf_config(os.environ)
    except TFConfigError as exc:
        return f"--strategy parameter-server: {exc}"
    log.info("parameter-server cluster: %s", config.describe())
    return None


def _read(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise SystemExit(f"gentf-worker: {flag} {path}: cannot read it ({exc.strerror})") from None


def main(argv: list[str] | None = None) -> int:
    """Runs a worker until SIGINT/SIGTERM (or the parent of an embedded worker goes away)."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if (args.tls_cert is None) != (args.tls_key is None):
        print("gentf-worker: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if not _is_loopback(args.host) and not args.insecure and not (args.token_file and args.tls_cert):
        print(f"gentf-worker: refusing to listen on {args.host}, which is not loopback, without "
              "both --token-file and --tls-cert/--tls-key: any client on the network could run "
              "programs on this host. Give both, or pass --insecure to accept the risk.",
              file=sys.stderr)
        return 2
    if args.max_batch_delay_us < 0 or args.max_batch_rows < 1:
        print("gentf-worker: --max-batch-delay-us must be 0 or more and --max-batch-rows 1 "
              "or more", file=sys.stderr)
        return 2
    for flag in ("logical_cpus", "intra_op_threads", "inter_op_threads"):
        if getattr(args, flag) < 0:
            print(f"gentf-worker: --{flag.replace('_', '-')} must be 0 or more", file=sys.stderr)
            return 2
    if args.front_door_threads < 0 or args.front_door_threads == 1 or args.max_calls_per_owner < 1:
        print("gentf-worker: --front-door-threads must be 0 (its default) or 2 or more, and "
              "--max-calls-per-owner 1 or more", file=sys.stderr)
        return 2
    if args.strategy == "parameter-server":
        problem = _check_parameter_server()
        if problem:
            print(f"gentf-worker: {problem}", file=sys.stderr)
            return 2
    from gentf_server.service.auth import load_tokens
    from gentf_server.service.server import WorkerConfig, WorkerServer

    tokens: tuple[str, ...] = ()
    if args.token_file:
        try:
            tokens = tuple(load_tokens(args.token_file))
        except ValueError as exc:
            print(f"gentf-worker: {exc}", file=sys.stderr)
            return 2
    state_dir = None
    if args.state_dir:
        from gentf_server.statedir import check_state_dir

        try:
            state_dir = check_state_dir(args.state_dir)
        except OSError as exc:
            print(f"gentf-worker: {exc}", file=sys.stderr)
            return 2
    if args.checkpoint_seconds < 0:
        print("gentf-worker: --checkpoint-seconds must be >= 0", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    limits = {
        "max_graph_nodes": args.max_graph_nodes, "max_graph_bytes": args.max_graph_mb << 20,
        "max_graph_depth": args.max_graph_depth,
        "max_variable_bytes": args.max_variable_mb << 20,
        "max_tensor_bytes": args.max_tensor_mb << 20,
        "max_blob_bytes": args.max_blob_mb << 20,
    }
    server = WorkerServer(WorkerConfig(
        host=args.host, port=args.port, max_message_bytes=args.max_message_mb << 20,
        threads=args.threads, front_door_threads=args.front_door_threads,
        max_calls_per_owner=args.max_calls_per_owner,
        default_lease_seconds=args.lease_seconds,
        max_sessions=args.max_sessions, trace_bytes=args.trace_mb << 20, tokens=tokens,
        max_reply_bytes=args.max_reply_mb << 20 if args.max_reply_mb else None,
        tls_cert=_read(args.tls_cert, "--tls-cert") if args.tls_cert else None,
        tls_key=_read(args.tls_key, "--tls-key") if args.tls_key else None,
        isolation=args.isolation, max_session_processes=args.max_session_processes,
        advertise_host=args.advertise_host, direct_ports=args.direct_ports,
        direct_port=args.direct_port,
        warm_processes=args.warm_processes, idle_process_seconds=args.idle_process_seconds,
        session_memory_mb=args.session_memory_mb,
        call_deadline_seconds=args.call_deadline_seconds, metrics_port=args.metrics_port,
        limits=limits, log_level=args.log_level, state_dir=state_dir,
        checkpoint_seconds=args.checkpoint_seconds, strategy=args.strategy,
        logical_cpus=args.logical_cpus, require_gpu=args.gpus == "required",
        thread_spinning=args.thread_spinning == "on", jit_compile=args.jit_compile,
        intra_op_threads=args.intra_op_threads,
        inter_op_threads=args.inter_op_threads,
        max_batch_delay_us=args.max_batch_delay_us, max_batch_rows=args.max_batch_rows))
    try:
        server.start()
    except OSError as exc:
        print(f"gentf-worker: {exc}", file=sys.stderr)
        return 1
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.port))
        os.replace(tmp, args.port_file)
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("signal %d received", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if os.environ.get("GENTF_EMBEDDED") == "1":
        threading.Thread(target=_exit_with_parent, args=(done,), name="gentf-parent-watch",
                         daemon=True).start()
    done.wait()
    server.stop(grace_seconds=float(os.environ.get("GENTF_STOP_GRACE_SECONDS", "5")))
    return 0


def _exit_with_parent(done: threading.Event) -> None:
    """An embedded worker's stdin is a pipe from its client: EOF means the client is gone,
    however it ended (SIGKILL included)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    log.info("the client that started this embedded worker is gone")
    done.set()


if __name__ == "__main__":
    sys.exit(main())
