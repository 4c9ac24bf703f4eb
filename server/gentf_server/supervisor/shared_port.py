"""The shared direct port: one TCP port of the worker for every session's direct calls.

A worker started with ``--direct-port`` listens there besides its front door. A client's
connection opens with a route in the clear (``gentf.wire._frames.encode_route``: its
session's id); the worker looks the session up and hands the connection, the socket itself,
to that session's process over a Unix socket (``SCM_RIGHTS``). From there on it is the
process's own: its direct door (``supervisor.direct``) makes the TLS handshake, checks the
hello's token and serves the calls, exactly as on a port of the process's own. The front
door's process never reads a byte past the route, so a step costs the same as on a
process's own port, and a deployment publishes one port instead of a range.

What a connection that is not a session's may do here: send at most the route's few bytes
within :data:`ROUTE_SECONDS` in all (however slowly they trickle in), one of
:data:`MAX_UNROUTED` connections at once (:data:`MAX_UNROUTED_PER_PEER` from one address);
an unknown route, a session whose process has no direct door, or anything else than a
route closes the connection (the client then goes through the front door, which says what
became of the session). The route is no secret (a session's id, useless without its owner's token).

This module knows sockets, neither gRPC nor TensorFlow.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from gentf.wire._frames import read_route

__all__ = ["MAX_UNROUTED", "MAX_UNROUTED_PER_PEER", "ROUTE_SECONDS", "SharedDirectPort",
           "hand_over"]

log = logging.getLogger("gentf_server.direct")

ROUTE_SECONDS = 10.0
"""How long a new connection has to send its route."""

MAX_UNROUTED = 64
"""Connections that may be sending their route at once; more are closed at once."""

MAX_UNROUTED_PER_PEER = 8
"""Of those, from one address: one stranger cannot take every slot."""


def hand_over(conn: socket.socket, handoff_path: str, timeout: float = 10.0) -> None:
    """Gives the connection ``conn`` to the session process listening at ``handoff_path``
    (one byte with the descriptor attached); OSError when it cannot take it. ``conn`` stays
    open here: close it after."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.settimeout(timeout)
        unix.connect(handoff_path)
        socket.send_fds(unix, [b"c"], [conn.fileno()])
        if unix.recv(1) != b"k":  # the process holds its own descriptor now
            raise OSError("the session process did not take the connection")


class _ByDeadline:
    """A socket whose every read waits at most until ``deadline`` (``time.monotonic``), so
    that reading the route takes at most :data:`ROUTE_SECONDS` in all."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def recv_into(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no route in time")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class SharedDirectPort:
    """Listens on ``(host, port)`` (port 0: the system's choice, read back as :attr:`port`;
    OSError naming both when it cannot) and hands each connection to the Unix socket
    ``handoff_path(route)`` names (None: the route leads nowhere, and the connection is
    closed). ``counted(outcome)`` hears what became of each connection: ``handed_over``,
    ``no_session``, ``bad_route``, ``busy`` or ``not_taken``."""

    def __init__(self, host: str, port: int,
                 handoff_path: Callable[[str], str | None],
                 counted: Callable[[str], None] = lambda outcome: None) -> None:
        self._handoff_path = handoff_path
        self._counted = counted
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((host.strip("[]"), port))
        except OSError as exc:
            self._listener.close()
            raise OSError(exc.errno, f"cannot listen on {host}:{port} for --direct-port: "
                                     f"{exc.strerror}") from None
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._unrouted = 0
        self._unrouted_by_peer: dict[str, int] = {}
        self._closed = False

    def start(self) -> None:
        """Accepts connections in a daemon thread until :meth:`close`."""
        threading.Thread(target=self._accept, name="gentf-direct-port", daemon=True).start()
        log.info("shared direct port %d", self.port)

    def close(self) -> None:
        """Stops accepting (connections already handed over go on in their processes)."""
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, peer = self._listener.accept()
            except OSError:
                return
            with self._lock:
                mine = self._unrouted_by_peer.get(peer[0], 0)
                full = self._unrouted >= MAX_UNROUTED or mine >= MAX_UNROUTED_PER_PEER
                if not full:
                    self._unrouted += 1
                    self._unrouted_by_peer[peer[0]] = mine + 1
            if full:
                log.warning("shared direct port: refused a connection from %s: too many "
                            "sending their route", peer[0])
                conn.close()
                self._counted("busy")
                continue
            threading.Thread(target=self._route, args=(conn, peer), daemon=True,
                             name="gentf-direct-route").start()

    def _route(self, conn: socket.socket, peer: Any) -> None:
        outcome = "bad_route"
        try:
            route = read_route(_ByDeadline(conn, time.monotonic() + ROUTE_SECONDS))  # type: ignore[arg-type]
            path = self._handoff_path(route)
            if path is None:
                outcome = "no_session"
                log.info("shared direct port: %s named no session with a direct door",
                         peer[0])
                return
            outcome = "not_taken"
            hand_over(conn, path)
            outcome = "handed_over"
        except (OSError, ValueError) as exc:
            log.info("shared direct port: connection from %s not handed over: %s", peer[0], exc)
        finally:
            self._counted(outcome)
            with self._lock:
                self._unrouted -= 1
                left = self._unrouted_by_peer.pop(peer[0]) - 1
                if left:
                    self._unrouted_by_peer[peer[0]] = left
            conn.close()
