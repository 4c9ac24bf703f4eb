"""The direct door: a session process's own TCP port, so that a client skips the front door.

On a worker started with ``--advertise-host``, the front door asks an owner's session
process to open this door when it serves the owner's first session, and tells the client
its address (``CreateSessionResponse.direct_address``). A client (unless
``GENTF_DIRECT=0``) sends its session's hot calls (:data:`DIRECT_METHODS`) and their
blob streams here, in the framed protocol the front door itself speaks to the process
(``gentf.wire._frames``): the relay (a gRPC server and a Unix socket hop) leaves the path of
every step. Sessions opened and closed, leases, checkpoints and worker-wide calls still go
through the front door. On a worker started with ``--direct-port`` the door has no port of
its own: the front door hands it the connections routed to it on the worker's one shared
direct port (``supervisor.shared_port``), over a Unix socket, and the door serves them as
its own.

The checks are the front door's, made here:
- TLS with the worker's certificate, when it has one;
- a hello first: the bearer token of this process's one owner, compared by SHA-256 (a worker
  without tokens takes any hello, as its front door lets anyone in); a connection without a
  good hello within :data:`HELLO_SECONDS` is closed;
- the worker's message cap: a bigger request is refused before it is read, and a blob frame
  over it ends the connection;
- at most ``max_calls`` connections with a caller (each carries one call at a time) and
  :data:`MAX_UNGREETED` more still saying hello;
- the per-call deadline: a call over it ends the whole process, as the front door stops
  one, so that its sessions report ABORTED through the front door.

This module knows sockets and TLS, neither gRPC nor TensorFlow: the connection is served
by the session process's own loop (``serve(conn)``, restricted to the direct methods).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gentf.wire._frames import METHOD_NAMES, encode_reply_frames, send_frames

from gentf_server.supervisor.protocol import CONTROL_HELLO, recv_request

__all__ = ["DIRECT_METHODS", "DirectDoor", "DirectSettings"]

log = logging.getLogger("gentf_server.direct")

DIRECT_METHODS: frozenset[str] = frozenset((
    "ExtendGraph", "Construct", "Generate", "ChoiceGradients", "AccumulateParamGradients",
    "RunOp", "Batch"))
"""The calls a direct door serves."""

DIRECT_INDEXES: frozenset[int] = frozenset(i for i, m in enumerate(METHOD_NAMES)
                                           if m in DIRECT_METHODS)
"""Their wire numbers."""

HELLO_SECONDS = 10.0
"""How long a new connection has to say hello."""

MAX_UNGREETED = 16
"""Connections that may be saying hello at once (beyond the owner's ``max_calls``)."""

SOCKET_BUFFER_BYTES = 4 << 20


@dataclass(frozen=True)
class DirectSettings:
    """What the front door hands a session process to open its direct door with."""

    host: str
    """The interface to listen on (the front door's ``--host``); the port is the system's
    choice."""
    token_sha256: str
    """Hex SHA-256 of the owner's bearer token; "" on a worker without tokens."""
    max_message_bytes: int
    max_calls: int
    deadline_seconds: float
    tls_cert: str | None = None
    tls_key: str | None = None
    ports: tuple[int, int] | None = None
    """``--direct-ports LOW-HIGH``: listen on the first free port of that range (for a
    container that publishes it); None: any port."""
    handoff: str | None = None
    """Behind the worker's shared direct port (``--direct-port``): the path of a Unix socket
    to listen on instead of a TCP port, where the front door hands over the connections
    routed to this process (``supervisor.shared_port``)."""


def _server_tls(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context from PEM text (written to a private temporary file for
    ``load_cert_chain``, which reads only files, and removed at once)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="gentf-tls-") as tmp:
        os.chmod(tmp, 0o700)
        path = os.path.join(tmp, "chain.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n" + cert)
        context.load_cert_chain(path)
    return context


def _bind(family: int, host: str, ports: Any) -> socket.socket:
    """A socket bound on ``host`` to any port, or to the first free one of ``ports``
    (OSError when none is)."""
    candidates = [0] if not ports else list(range(int(ports[0]), int(ports[1]) + 1))
    for port in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((host, port))
            return sock
        except OSError:
            sock.close()
            if port == candidates[-1]:
                raise
    raise OSError(f"no free port in {ports}")


class DirectDoor:
    """Listens on ``settings.host`` (port: :attr:`port`) and hands each greeted connection to
    ``serve(conn, allowed_indexes, max_payload, enter, leave)``. ``over_deadline(reason)``
    is called from a watchdog thread when a call runs past the deadline; it is expected to
    end the process."""

    def __init__(self, settings: DirectSettings, serve: Callable[..., None],
                 over_deadline: Callable[[str], None]) -> None:
        self.settings = settings
        self._serve = serve
        self._over_deadline = over_deadline
        self._digest = bytes.fromhex(settings.token_sha256) if settings.token_sha256 else b""
        self._tls = (_server_tls(settings.tls_cert, settings.tls_key)
                     if settings.tls_cert and settings.tls_key else None)
        self._lock = threading.Lock()
        self._greeted = 0
        self._ungreeted = 0
        self._in_flight: dict[int, tuple[float, str]] = {}
        if settings.handoff:
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(settings.handoff)
            os.chmod(settings.handoff, 0o600)
            self.port: int = 0  # behind the shared direct port: no port of its own
        else:
            family = socket.AF_INET6 if ":" in settings.host.strip("[]") else socket.AF_INET
            self._listener = _bind(family, settings.host.strip("[]"), settings.ports)
            self.port = self._listener.getsockname()[1]
        self._listener.listen(64)

    def start(self) -> None:
        """Accepts connections, and watches the deadline, in daemon threads for the rest of
        the process's life."""
        threading.Thread(target=self._accept, name="gentf-direct-accept", daemon=True).start()
        threading.Thread(target=self._watch, name="gentf-direct-deadline", daemon=True).start()
        where = (f"port {self.port}" if not self.settings.handoff
                 else "the worker's shared direct port")
        log.info("direct door on %s (%s)", where, "TLS" if self._tls else "plaintext")

    # ---- connections -------------------------------------------------------------------

    def _next(self) -> tuple[socket.socket, Any]:
        """The next connection and its peer's address: accepted, or (behind the shared
        port) taken over from the front door."""
        if not self.settings.handoff:
            return self._listener.accept()
        while True:
            unix, _ = self._listener.accept()
            with unix:
                unix.settimeout(10.0)
                try:
                    _, fds, _, _ = socket.recv_fds(unix, 1, 1)
                except OSError:
                    continue
                if not fds:
                    continue
                for extra in fds[1:]:
                    os.close(extra)
                try:
                    conn = socket.socket(fileno=fds[0])
                except OSError:  # not a socket
                    os.close(fds[0])
                    continue
                try:
                    peer = conn.getpeername()
                    conn.setblocking(True)
                    unix.sendall(b"k")
                except OSError:
                    conn.close()
                    continue
            return conn, peer

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self._next()
            except OSError:
                return
            with self._lock:
                full = self._ungreeted >= MAX_UNGREETED
                if not full:
                    self._ungreeted += 1
            if full:
                log.warning("direct door: refused a connection from %s: too many saying hello",
                            peer[0])
                conn.close()
                continue
            threading.Thread(target=self._connection, args=(conn, peer), daemon=True,
                             name="gentf-direct-conn").start()

    def _connection(self, conn: socket.socket, peer: Any) -> None:
        greeted = False
        try:
            conn.settimeout(HELLO_SECONDS)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                conn.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            greeted = self._hello(conn, peer)
            if not greeted:
                return
            conn.settimeout(None)
            self._serve(conn, DIRECT_INDEXES, self.settings.max_message_bytes,
                        self._enter, self._leave)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.info("direct door: connection from %s ended: %s", peer[0], exc)
        finally:
            with self._lock:
                if greeted:
                    self._greeted -= 1
                else:
                    self._ungreeted -= 1
            conn.close()

    def _hello(self, conn: socket.socket, peer: Any) -> bool:
        """Reads the hello (its payload: JSON ``{"token": ...}``) and answers it; True when
        the connection may go on (it then counts as one of the owner's)."""
        request = recv_request(conn, max_payload=4096)
        if request is None:
            return False
        index, payload = request
        code, message = "OK", ""
        if index != CONTROL_HELLO:
            code, message = "FAILED_PRECONDITION", "a direct connection starts with a hello"
        elif not self._token_ok(payload):
            code = "UNAUTHENTICATED"
            message = ("this session process serves one owner: say hello with that owner's "
                       "bearer token")
        if code == "OK":
            with self._lock:
                if self._greeted >= self.settings.max_calls:
                    code = "RESOURCE_EXHAUSTED"
                    message = (f"the owner has {self._greeted} direct connections, this worker's "
                               "most (--max-calls-per-owner); wait for one to close")
                else:
                    self._ungreeted -= 1
                    self._greeted += 1
        if code != "OK":
            log.warning("direct door: refused %s: %s", peer[0], message)
        try:
            send_frames(conn, encode_reply_frames(code, message, [], b""))
        except OSError:
            if code == "OK":  # counted as the owner's: count it as saying hello again
                with self._lock:
                    self._greeted -= 1
                    self._ungreeted += 1
            raise
        return code == "OK"

    def _token_ok(self, payload: bytearray) -> bool:
        if not self._digest:
            return True
        try:
            token = str(json.loads(bytes(payload)).get("token") or "")
        except (ValueError, AttributeError):
            return False
        given = hashlib.sha256(token.encode()).digest()
        return hmac.compare_digest(given, self._digest)

    # ---- the deadline ------------------------------------------------------------------

    def _enter(self, method: str) -> None:
        with self._lock:
            self._in_flight[threading.get_ident()] = (time.monotonic(), method)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight.pop(threading.get_ident(), None)

    def _watch(self) -> None:
        limit = self.settings.deadline_seconds
        every = min(1.0, max(limit / 4, 0.05))
        while True:
            time.sleep(every)
            now = time.monotonic()
            with self._lock:
                late = [m for start, m in self._in_flight.values() if now - start > limit]
            if late:
                reason = (f"a {late[0]} call ran over the per-call deadline of {limit:g} s "
                          "(--call-deadline-seconds)")
                log.error("direct door: %s; ending the session process", reason)
                self._over_deadline(reason)
                return
