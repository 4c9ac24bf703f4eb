"""One session process as the front door sees it: start it, call it, watch it die.

Calls travel over the process's Unix socket as raw bytes (see ``protocol``); each call in
flight has a connection of its own, taken from a small idle pool, so calls of different
sessions run concurrently in the process. A connection whose call was abandoned (deadline,
cancellation) is closed, never reused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from gentf_server.calls import Outcome
from gentf_server.supervisor.protocol import (
    CONTROL_GET_BLOB,
    CONTROL_PUT_BLOB,
    FRAME_HEADER,
    REPLY_HEADER,
    decode_reply_meta,
    encode_request_header,
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
net.core.wmem_max/rmem_max): a chunk crosses in a few wakeups of the event loop, not one per
default-sized buffer (about 200 KiB)."""


def _blob_socket() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, BLOB_SOCKET_BUFFER_BYTES)
        except OSError:
            pass
    sock.setblocking(False)
    return sock


class SessionProcess:
    """A child process running ``gentf_server.supervisor.child``; use from one event loop."""

    def __init__(self, number: int, socket_path: str, config: dict[str, Any]) -> None:
        self.number = number
        self.socket_path = socket_path
        self.config = dict(config, socket=socket_path)
        self.owner: str | None = None
        self.sessions: set[str] = set()
        self.reserved = 0
        """CreateSession calls on their way to this process (it must not end under them)."""
        self.proc: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self.exit_reason: str | None = None
        self.started_at = time.monotonic()
        self._idle: list[socket.socket] = []

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

    async def put_blob(self, first: bytes, rest: AsyncIterator[bytes],
                       timeout: float | None) -> Outcome:
        """Forwards a PutBlob stream (its first chunk, then the others as they come) on a
        connection of its own, closed afterwards; raises like :meth:`call`."""
        if not self.alive:
            raise ProcessDied(self.exit_reason or "not running")
        loop = asyncio.get_running_loop()
        sock = _blob_socket()

        async def exchange() -> Outcome:
            await loop.sock_connect(sock, self.socket_path)
            await loop.sock_sendall(sock, encode_request_header(CONTROL_PUT_BLOB, len(first)))
            await loop.sock_sendall(sock, first)
            async for chunk in rest:
                await loop.sock_sendall(sock, FRAME_HEADER.pack(len(chunk)))
                await loop.sock_sendall(sock, chunk)
            await loop.sock_sendall(sock, FRAME_HEADER.pack(0))
            return await self._read_reply(loop, sock)

        try:
            return await asyncio.wait_for(exchange(), timeout)
        except asyncio.TimeoutError:
            raise
        except (ConnectionError, OSError) as exc:
            raise ProcessDied(await self._death_reason(exc)) from None
        finally:
            sock.close()

    async def get_blob(self, request: bytes) -> tuple[Outcome, AsyncIterator[bytes] | None]:
        """Asks for a GetBlob: (outcome, the serialized chunks as they arrive, or None).
        The chunks' iterator owns a connection of its own and closes it when done."""
        if not self.alive:
            raise ProcessDied(self.exit_reason or "not running")
        loop = asyncio.get_running_loop()
        sock = _blob_socket()
        try:
            await loop.sock_connect(sock, self.socket_path)
            await loop.sock_sendall(sock, encode_request_header(CONTROL_GET_BLOB, len(request)))
            await loop.sock_sendall(sock, request)
            outcome = await self._read_reply(loop, sock)
        except (ConnectionError, OSError) as exc:
            sock.close()
            raise ProcessDied(await self._death_reason(exc)) from None
        if not outcome.ok:
            sock.close()
            return outcome, None

        async def chunks() -> AsyncIterator[bytes]:
            buffer = bytearray()  # reused for every frame: one copy out of it per chunk
            try:
                while True:
                    head = await _recv_exactly(loop, sock, FRAME_HEADER.size)
                    (length,) = FRAME_HEADER.unpack(head)
                    if length == 0:
                        return
                    if len(buffer) < length:
                        buffer = bytearray(length)
                    view = memoryview(buffer)[:length]
                    got = 0
                    while got < length:
                        k = await loop.sock_recv_into(sock, view[got:])
                        if k == 0:
                            raise ConnectionError("the session process closed the connection")
                        got += k
                    yield bytes(view)
            finally:
                sock.close()

        return outcome, chunks()

    async def _read_reply(self, loop: asyncio.AbstractEventLoop,
                          sock: socket.socket) -> Outcome:
        header = bytes(await _recv_exactly(loop, sock, REPLY_HEADER.size))
        _, meta_len, reply_len = REPLY_HEADER.unpack(header)
        meta = bytes(await _recv_exactly(loop, sock, meta_len))
        reply = await _recv_exactly(loop, sock, reply_len) if reply_len else b""
        code, message, metadata = decode_reply_meta(header, meta)
        return Outcome(code, message, metadata, bytes(reply))

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
