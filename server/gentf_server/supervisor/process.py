"""One session process as the front door sees it: start it, call it, watch it die.

Calls travel over the process's Unix socket as raw bytes (see ``protocol``); each call in
flight has a connection of its own, taken from a small idle pool, so calls of different
sessions run concurrently in the process. A connection whose call was abandoned (deadline,
cancellation) is closed, never reused.

The process is started, watched and stopped from the front door's event loop. Calls come
two ways: from the event loop (:meth:`SessionProcess.call`: control calls, session
creation) and, blocking, from the gRPC server's call threads (``*_blocking``: every
session call and blob stream), which pass no bytes through the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

from gentf_server.calls import Outcome
from gentf_server.supervisor.protocol import (
    CONTROL_GET_BLOB,
    CONTROL_PUT_BLOB,
    EXIT_OVER_DEADLINE,
    FRAME_HEADER,
    REPLY_HEADER,
    decode_reply_meta,
    encode_request_header,
    recv_exactly,
    send_frames,
)

__all__ = ["ProcessDied", "SessionProcess", "describe_exit"]

log = logging.getLogger("gentf_server.supervisor")

START_TIMEOUT_SECONDS = 180.0


class ProcessDied(Exception):
    """The session process exited during a call (``reason`` says how)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe_exit(returncode: int | None) -> str:
    """``"signal 11 (SIGSEGV)"``, ``"exit status 1"``: how a process ended."""
    if returncode is None:
        return "still running"
    if returncode == EXIT_OVER_DEADLINE:
        return ("it ended itself: a direct call ran over the per-call deadline "
                "(--call-deadline-seconds)")
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown"
        return f"signal {-returncode} ({name})"
    return f"exit status {returncode}"


SOCKET_BUFFER_BYTES = 4 << 20
"""Send and receive buffer asked for on each call connection (the kernel caps it at
``net.core.wmem_max``/``rmem_max``): a step's request and reply then pass in one system call
each, instead of a wake-up of the other side per ~200 KiB."""


def _enlarge_buffers(sock: socket.socket) -> None:
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
        except OSError:  # pragma: no cover - a kernel refusing is only slower
            pass


async def _send_all(loop: asyncio.AbstractEventLoop, sock: socket.socket, header: bytes,
                    payload: bytes) -> None:
    """Sends ``header`` then ``payload``, in one system call when the socket takes it all,
    without joining (copying) them; waits on the loop only for what did not fit."""
    total = len(header) + len(payload)
    try:
        sent = sock.sendmsg([header, payload]) if payload else sock.send(header)
    except (BlockingIOError, InterruptedError):
        sent = 0
    if sent == total:
        return
    if sent < len(header):
        await loop.sock_sendall(sock, header[sent:])
        sent = len(header)
    await loop.sock_sendall(sock, memoryview(payload)[sent - len(header):])


_timeout = getattr(asyncio, "timeout", None)


async def _within(work: Coroutine[Any, Any, Outcome], timeout: float | None) -> Outcome:
    """``await work``, asyncio.TimeoutError past ``timeout`` seconds; with
    ``asyncio.timeout`` (Python 3.11+) no task is created for it, unlike ``wait_for``."""
    if _timeout is None:  # pragma: no cover - Python 3.10
        return await asyncio.wait_for(work, timeout)
    async with _timeout(timeout):
        return await work


async def _recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = await loop.sock_recv_into(sock, view[got:])
        if k == 0:
            raise ConnectionError("the session process closed the connection")
        got += k
    return buf


BLOB_SOCKET_BUFFER_BYTES = 4 << 20
"""Kernel buffer asked for on a blob stream's socket (the kernel caps it at
net.core.wmem_max/rmem_max): a chunk crosses in a few system calls, not one per
default-sized buffer (about 200 KiB)."""


def _blocking_socket(buffer_bytes: int) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, buffer_bytes)
        except OSError:  # pragma: no cover - a kernel refusing is only slower
            pass
    return sock


def _recv_bytes(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes, received straight into the bytes object returned when one
    receive brings them all; ConnectionError when the peer closes first."""
    if n == 0:
        return b""
    data = sock.recv(n, socket.MSG_WAITALL)
    if len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        if not parts[-1]:
            raise ConnectionError("the session process closed the connection")
        parts.append(sock.recv(n - got, socket.MSG_WAITALL))
        got += len(parts[-1])
    return b"".join(parts)


class _Deadline:
    """Seconds left of one blocking exchange, applied to its socket before each step."""

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        self.sock = sock
        self.at = None if timeout is None else time.monotonic() + timeout

    def arm(self) -> None:
        """Sets the socket's timeout to what is left; TimeoutError when nothing is."""
        if self.at is None:
            self.sock.settimeout(None)
            return
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call ran over its deadline")
        self.sock.settimeout(left)


class SessionProcess:
    """A child process running ``gentf_server.supervisor.child``; started, called
    (:meth:`call`) and stopped from one event loop, called from any thread with the
    ``*_blocking`` methods and :meth:`kill_soon`."""

    def __init__(self, number: int, socket_path: str, config: dict[str, Any]) -> None:
        self.number = number
        self.socket_path = socket_path
        self.config = dict(config, socket=socket_path)
        self.owner: str | None = None
        self.sessions: set[str] = set()
        self.reserved = 0
        """CreateSession calls on their way to this process (it must not end under them)."""
        self.direct_port: int | None = None
        """The port of the process's direct door, once open (see ``supervisor.direct``):
        its own, or the worker's shared direct port."""
        self.direct_handoff: str | None = None
        """Behind the shared direct port: the Unix socket where its door takes connections."""
        self.proc: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self.exit_reason: str | None = None
        self.started_at = time.monotonic()
        self._idle: list[socket.socket] = []
        self._blocking_idle: list[socket.socket] = []
        self._blocking_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        """True until the process has exited (or was told to)."""
        return self.exit_reason is None and self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        """Spawns the child and waits until it serves; RuntimeError if it cannot start."""
        self._loop = asyncio.get_running_loop()
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("MALLOC_MMAP_THRESHOLD_", "33554432")
        env.setdefault("MALLOC_TRIM_THRESHOLD_", "1073741824")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gentf_server.supervisor.child", json.dumps(self.config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), START_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            line = b""
        if line.strip() != b"READY":
            self.kill()
            await self.proc.wait()
            self.exit_reason = f"did not start ({describe_exit(self.proc.returncode)})"
            raise RuntimeError(f"session process {self.number} {self.exit_reason}")
        self.ready.set()
        log.info("session process %d (pid %d) ready in %.1f s", self.number, self.pid,
                 time.monotonic() - self.started_at)

    async def call(self, method: str | int, payload: bytes, timeout: float | None) -> Outcome:
        """Sends one call and waits for its outcome.

        Raises ProcessDied when the process exits before answering, asyncio.TimeoutError
        past ``timeout`` seconds (the connection is then discarded).
        """
        if not self.alive:
            raise ProcessDied(self.exit_reason or describe_exit(self.proc.returncode if self.proc else None))
        loop = asyncio.get_running_loop()
        sock = self._idle.pop() if self._idle else None
        reusable = False
        try:
            if sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.setblocking(False)
                _enlarge_buffers(sock)
                await loop.sock_connect(sock, self.socket_path)
            outcome = await _within(self._exchange(loop, sock, method, payload), timeout)
            reusable = True
            return outcome
        except asyncio.TimeoutError:  # a subclass of OSError since Python 3.11
            raise
        except (ConnectionError, OSError) as exc:
            raise ProcessDied(await self._death_reason(exc)) from None
        finally:
            if sock is not None:
                if reusable and self.alive and len(self._idle) < 16:
                    self._idle.append(sock)
                else:
                    sock.close()

    # ---- calls from the front door's call threads --------------------------------------

    def call_blocking(self, method: str | int, payload: bytes, timeout: float | None) -> Outcome:
        """:meth:`call` from a thread, on a blocking connection of its own pool.

        Raises ProcessDied when the process exits before answering, TimeoutError past
        ``timeout`` seconds (the connection is then discarded).
        """
        self._check_alive()
        with self._blocking_lock:
            sock = self._blocking_idle.pop() if self._blocking_idle else None
        reusable = False
        try:
            if sock is None:
                sock = _blocking_socket(SOCKET_BUFFER_BYTES)
                sock.settimeout(timeout)
                sock.connect(self.socket_path)
            deadline = _Deadline(sock, timeout)
            deadline.arm()
            send_frames(sock, [encode_request_header(method, len(payload)), payload])
            deadline.arm()
            header = bytes(recv_exactly(sock, REPLY_HEADER.size))
            _, meta_len, reply_len = REPLY_HEADER.unpack(header)
            deadline.arm()
            meta = bytes(recv_exactly(sock, meta_len))
            reply = _recv_bytes(sock, reply_len)
            code, message, metadata = decode_reply_meta(header, meta)
            reusable = True
            return Outcome(code, message, metadata, reply)
        except TimeoutError:  # a subclass of OSError
            raise
        except (ConnectionError, OSError) as exc:
            raise ProcessDied(self._death_reason_blocking(exc)) from None
        finally:
            if sock is not None:
                with self._blocking_lock:
                    if reusable and self.alive and len(self._blocking_idle) < 16:
                        self._blocking_idle.append(sock)
                        sock = None
                if sock is not None:
                    sock.close()

    def put_blob_blocking(self, first: bytes, rest: Iterator[bytes],
                          timeout: float | None) -> Outcome:
        """Forwards a PutBlob stream (its first chunk, then the others as they come) on a
        connection of its own, closed afterwards; raises like :meth:`call_blocking`."""
        self._check_alive()
        sock = _blocking_socket(BLOB_SOCKET_BUFFER_BYTES)
        deadline = _Deadline(sock, timeout)
        try:
            deadline.arm()
            sock.connect(self.socket_path)
            send_frames(sock, [encode_request_header(CONTROL_PUT_BLOB, len(first)), first])
            for chunk in rest:
                deadline.arm()
                send_frames(sock, [FRAME_HEADER.pack(len(chunk)), chunk])
            deadline.arm()
            sock.sendall(FRAME_HEADER.pack(0))
            header = bytes(recv_exactly(sock, REPLY_HEADER.size))
            _, meta_len, reply_len = REPLY_HEADER.unpack(header)
            meta = bytes(recv_exactly(sock, meta_len))
            reply = _recv_bytes(sock, reply_len)
            code, message, metadata = decode_reply_meta(header, meta)
            return Outcome(code, message, metadata, reply)
        except TimeoutError:
            raise
        except (ConnectionError, OSError) as exc:
            raise ProcessDied(self._death_reason_blocking(exc)) from None
        finally:
            sock.close()

    def get_blob_blocking(self, request: bytes) -> tuple[Outcome, Iterator[bytes] | None]:
        """Asks for a GetBlob: (outcome, the serialized chunks as they arrive, or None).
        The chunks' iterator owns a connection of its own and closes it when done."""
        self._check_alive()
        sock = _blocking_socket(BLOB_SOCKET_BUFFER_BYTES)
        try:
            sock.connect(self.socket_path)
            send_frames(sock, [encode_request_header(CONTROL_GET_BLOB, len(request)),
                                     request])
            header = bytes(recv_exactly(sock, REPLY_HEADER.size))
            _, meta_len, reply_len = REPLY_HEADER.unpack(header)
            meta = bytes(recv_exactly(sock, meta_len))
            reply = _recv_bytes(sock, reply_len)
        except (ConnectionError, OSError) as exc:
            sock.close()
            raise ProcessDied(self._death_reason_blocking(exc)) from None
        code, message, metadata = decode_reply_meta(header, meta)
        outcome = Outcome(code, message, metadata, reply)
        if not outcome.ok:
            sock.close()
            return outcome, None

        def chunks() -> Iterator[bytes]:
            try:
                while True:
                    (length,) = FRAME_HEADER.unpack(recv_exactly(sock, FRAME_HEADER.size))
                    if length == 0:
                        return
                    yield _recv_bytes(sock, length)  # one copy: the kernel's
            finally:
                sock.close()

        return outcome, chunks()

    def kill_soon(self, reason: str) -> None:
        """:meth:`kill` from any thread (done on the event loop)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.kill, reason)

    def _check_alive(self) -> None:
        if not self.alive:
            raise ProcessDied(self.exit_reason or describe_exit(
                self.proc.returncode if self.proc else None))

    def _death_reason_blocking(self, exc: Exception) -> str:
        """Why the connection failed, asked of the event loop (it waits for the exit)."""
        if self._loop is None:
            return f"the connection to it failed ({exc})"
        future = asyncio.run_coroutine_threadsafe(self._death_reason(exc), self._loop)
        try:
            return future.result(10.0)
        except Exception:  # noqa: BLE001 - the loop is stopping: say what is known
            return f"the connection to it failed ({exc})"

    async def _exchange(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                        method: str | int, payload: bytes) -> Outcome:
        await _send_all(loop, sock, encode_request_header(method, len(payload)), payload)
        header = bytes(await _recv_exactly(loop, sock, REPLY_HEADER.size))
        _, meta_len, reply_len = REPLY_HEADER.unpack(header)
        body = await _recv_exactly(loop, sock, meta_len + reply_len)
        code, message, metadata = decode_reply_meta(header, bytes(body[:meta_len]))
        return Outcome(code, message, metadata, bytes(memoryview(body)[meta_len:]))

    async def _death_reason(self, exc: Exception) -> str:
        assert self.proc is not None
        try:
            await asyncio.wait_for(self.proc.wait(), 5.0)
        except asyncio.TimeoutError:
            return f"the connection to it failed ({exc})"
        self.exit_reason = self.exit_reason or describe_exit(self.proc.returncode)
        return self.exit_reason

    async def wait(self) -> int:
        """Waits for the process to exit; returns its return code and records why."""
        assert self.proc is not None
        code = await self.proc.wait()
        self.exit_reason = self.exit_reason or describe_exit(code)
        self._close_idle()
        return code

    def kill(self, reason: str | None = None) -> None:
        """SIGKILLs the process (``reason`` becomes its exit reason)."""
        if reason and self.exit_reason is None:
            self.exit_reason = reason
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    def _close_idle(self) -> None:
        for sock in self._idle:
            sock.close()
        self._idle.clear()
        with self._blocking_lock:
            idle, self._blocking_idle = self._blocking_idle, []
        for sock in idle:
            sock.close()

    async def stop(self, grace_seconds: float) -> None:
        """Ends the process: its stdin closes (it exits at once); SIGKILL after the grace."""
        self._close_idle()
        if self.proc is None or self.proc.returncode is not None:
            return
        if self.exit_reason is None:
            self.exit_reason = "stopped by the worker"
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), grace_seconds)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass
