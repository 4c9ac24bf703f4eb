"""Owners, their session processes and their sessions, as the front door tracks them.

Each owner (a token; all clients without a token are one owner) gets one session process,
taken from a small warm pool of processes that have already imported TensorFlow. The
supervisor remembers which session lives in which process and belongs to which owner,
expires leases, ends a process when its owner's last session closes, and, when a process
dies, marks its sessions lost so that their next call says why (ABORTED) instead of
"not found". With ``isolation="none"`` every owner shares one in-process backend.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gentf_server.calls import Outcome
from gentf_server.supervisor.process import SessionProcess
from gentf_server.supervisor.protocol import CONTROL_LEASES

__all__ = ["Refused", "SessionEntry", "Supervisor", "SupervisorConfig"]

log = logging.getLogger("gentf_server.supervisor")


class Refused(Exception):
    """The supervisor refuses a call; ``outcome`` is the status to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.outcome = Outcome(code, message)


@dataclass
class SupervisorConfig:
    """How session processes are run."""

    child: dict[str, Any]
    """The session processes' configuration (see ``supervisor.child``)."""
    isolation: str = "process"
    """``"process"``: one process per owner; ``"none"``: sessions in this process."""
    max_processes: int = 16
    warm_processes: int = 1
    idle_seconds: float = 30.0
    """How long an owner's process outlives its last session (its memory is returned at
    close either way); the owner's next session within that time reuses it."""
    threads: int = 8
    grace_seconds: float = 5.0


_IN_FLIGHT_LOCK = threading.Lock()


@dataclass
class SessionEntry:
    """A session the front door knows: its owner, its process, its lease."""

    session_id: str
    owner: str
    backend: Any
    lease_seconds: float
    deadline: float = 0.0
    in_flight: int = 0

    def renew(self) -> None:
        """Starts the lease again (every call renews it)."""
        self.deadline = time.monotonic() + self.lease_seconds

    def enter(self) -> None:
        """Counts a call in flight (any thread; the lease reaper spares the session)."""
        with _IN_FLIGHT_LOCK:
            self.in_flight += 1

    def leave(self) -> None:
        """Counts a call done (any thread)."""
        with _IN_FLIGHT_LOCK:
            self.in_flight -= 1


@dataclass
class _Counters:
    process_deaths: int = 0
    processes_started: int = 0
    listeners: list[Callable[[str], None]] = field(default_factory=list)


class Supervisor:
    """Maps owners to session processes and sessions to owners; use from one event loop
    (:meth:`find` alone may be called from any thread)."""

    def __init__(self, config: SupervisorConfig) -> None:
        self.config = config
        self.counters = _Counters()
        self._sessions: dict[str, SessionEntry] = {}
        self._lost: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._owners: dict[str, Any] = {}
        self._owner_locks: dict[str, asyncio.Lock] = {}
        self._pool: list[SessionProcess] = []
        self._starting: set[asyncio.Task[SessionProcess]] = set()
        self._processes: set[SessionProcess] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inprocess: Any = None
        self._number = 0
        self._socket_dir = tempfile.mkdtemp(prefix="gentf-sessions-")
        os.chmod(self._socket_dir, 0o700)
        self._closing = False

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the in-process backend or the warm pool, and the lease reaper."""
        if self.config.isolation == "none":
            from gentf_server.supervisor.inprocess import InProcessBackend

            loop = asyncio.get_running_loop()
            self._inprocess = await loop.run_in_executor(
                None, InProcessBackend, self.config.child, self.config.threads)
        else:
            self._replenish()
        self._spawn(self._reap_leases())

    async def stop(self) -> None:
        """Ends every session process (stdin closed, SIGKILL after the grace period)."""
        self._closing = True
        for task in list(self._tasks) + list(self._starting):
            task.cancel()
        if self._inprocess is not None:
            await self._inprocess.stop(self.config.grace_seconds)
        await asyncio.gather(*(p.stop(self.config.grace_seconds) for p in list(self._processes)),
                             return_exceptions=True)
        try:
            os.rmdir(self._socket_dir)
        except OSError:
            pass

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- processes ---------------------------------------------------------------------

    def _replenish(self) -> None:
        if self._closing or self.config.isolation == "none":
            return
        while (len(self._pool) + len(self._starting) < self.config.warm_processes
               and len(self._processes) < self.config.max_processes + self.config.warm_processes):
            task = asyncio.get_running_loop().create_task(self._start_process())
            self._starting.add(task)
            task.add_done_callback(self._pool_ready)

    def _pool_ready(self, task: asyncio.Task[SessionProcess]) -> None:
        self._starting.discard(task)
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                log.error("a warm session process failed to start: %s", task.exception())
            return
        process = task.result()
        if process.alive:
            self._pool.append(process)

    async def _start_process(self) -> SessionProcess:
        self._number += 1
        path = os.path.join(self._socket_dir, f"p{self._number}.sock")
        process = SessionProcess(self._number, path, self.config.child)
        self._processes.add(process)
        try:
            await process.start()
        except BaseException:
            self._processes.discard(process)
            raise
        self.counters.processes_started += 1
        self._spawn(self._watch(process))
        return process

    async def _watch(self, process: SessionProcess) -> None:
        await process.wait()
        self._processes.discard(process)
        if process in self._pool:
            self._pool.remove(process)
        if process.owner is not None and self._owners.get(process.owner) is process:
            del self._owners[process.owner]
        reason = process.exit_reason or "exited"
        if process.sessions and not self._closing:
            self.counters.process_deaths += 1
            log.warning("session process %d (pid %d, owner %s) died: %s; %d session(s) lost",
                        process.number, process.pid, process.owner, reason, len(process.sessions))
            for listener in self.counters.listeners:
                listener(reason)
        for sid in list(process.sessions):
            entry = self._sessions.pop(sid, None)
            if entry is not None:
                self._lost[sid] = (entry.owner, reason)
        while len(self._lost) > 10_000:
            self._lost.popitem(last=False)
        process.sessions.clear()
        for path in (process.socket_path, process.direct_handoff):
            try:
                if path:
                    os.unlink(path)
            except OSError:
                pass
        self._replenish()

    async def process_for(self, owner: str) -> Any:
        """The owner's session process, assigned from the warm pool (or started) if it has
        none, reserved for one CreateSession (call :meth:`release` after it); Refused
        (RESOURCE_EXHAUSTED) when ``max_processes`` owners have one."""
        if self._inprocess is not None:
            return self._inprocess
        lock = self._owner_locks.setdefault(owner, asyncio.Lock())
        async with lock:
            process = self._owners.get(owner)
            if process is not None and process.alive:
                process.reserved += 1
                return process
            owned = sum(1 for p in self._owners.values() if p.alive)
            if owned >= self.config.max_processes:
                raise Refused("RESOURCE_EXHAUSTED",
                              f"the worker runs {owned} session processes, its maximum "
                              "(--max-session-processes); try again when a session closes")
            process = self._pool.pop(0) if self._pool else None
            if process is None or not process.alive:
                try:
                    process = await self._start_process()
                except RuntimeError as exc:
                    raise Refused("UNAVAILABLE", f"could not start a session process: {exc}") from None
            process.owner = owner
            process.reserved += 1
            self._owners[owner] = process
            log.info("session process %d (pid %d) now serves owner %s", process.number,
                     process.pid, owner)
            self._replenish()
            return process

    async def any_process(self, owner: str) -> Any:
        """A process for calls that need no session (worker info, op registry): the owner's
        own, else any live one, else a warm one (started if need be)."""
        if self._inprocess is not None:
            return self._inprocess
        process = self._owners.get(owner)
        if process is not None and process.alive:
            return process
        for candidate in list(self._pool) + list(self._owners.values()):
            if candidate.alive:
                return candidate
        if self._starting:
            done, _ = await asyncio.wait(list(self._starting), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is None and task.result().alive:
                    return task.result()
        try:
            process = await self._start_process()
        except RuntimeError as exc:
            raise Refused("UNAVAILABLE", f"could not start a session process: {exc}") from None
        self._pool.append(process)
        return process

    # ---- sessions ----------------------------------------------------------------------

    def add_session(self, session_id: str, owner: str, backend: Any, lease_seconds: float) -> None:
        """Records a session the backend just created for ``owner``."""
        entry = SessionEntry(session_id, owner, backend, lease_seconds)
        entry.renew()
        self._sessions[session_id] = entry
        backend.sessions.add(session_id)

    def find(self, session_id: str, owner: str) -> SessionEntry | None:
        """The owner's live session, or None (then :meth:`lookup`, on the event loop, says
        why). Reads only: safe from the front door's call threads."""
        entry = self._sessions.get(session_id)
        return entry if entry is not None and entry.owner == owner else None

    def direct_handoff(self, session_id: str) -> str | None:
        """Where the process of session ``session_id`` takes over connections routed to it on
        the shared direct port (see ``supervisor.shared_port``); None when the session is
        unknown or its process has no direct door behind that port. Reads only: safe from
        any thread."""
        entry = self._sessions.get(session_id)
        if entry is None or not entry.backend.alive:
            return None
        return getattr(entry.backend, "direct_handoff", None)

    def lookup(self, session_id: str, owner: str) -> SessionEntry:
        """The owner's session; Refused with NOT_FOUND (unknown, or another owner's) or
        ABORTED (its process died; said once, then NOT_FOUND)."""
        entry = self._sessions.get(session_id)
        if entry is not None and entry.owner == owner:
            return entry
        lost = self._lost.get(session_id)
        if lost is not None and lost[0] == owner:
            del self._lost[session_id]
            raise Refused("ABORTED", f"session {session_id}: session process died: {lost[1]}; "
                                     "the session's state is lost")
        raise Refused("NOT_FOUND",
                      f"no session {session_id!r} (never opened, closed, or its lease ran out)")

    def forget(self, session_id: str) -> None:
        """Drops a closed session; a process left with no session ends."""
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return
        backend = entry.backend
        backend.sessions.discard(session_id)
        if backend is not self._inprocess and not backend.sessions and backend.alive:
            self._spawn(self._end_when_idle(backend))

    async def _end_when_idle(self, process: SessionProcess) -> None:
        """Ends an owner's process that stays without a session for ``idle_seconds``."""
        if self.config.idle_seconds > 0:
            await asyncio.sleep(self.config.idle_seconds)
        if process.sessions or process.reserved or not process.alive:
            return
        if self._owners.get(process.owner) is process:  # type: ignore[arg-type]
            del self._owners[process.owner]  # type: ignore[arg-type]
        log.info("session process %d (owner %s) has had no session for %.0f s: ending it",
                 process.number, process.owner, self.config.idle_seconds)
        await process.stop(self.config.grace_seconds)

    def release(self, backend: Any) -> None:
        """Ends the reservation :meth:`process_for` made; a process left with no session
        and no reservation ends once idle."""
        if getattr(backend, "reserved", 0) > 0:
            backend.reserved -= 1
        if (backend is not self._inprocess and backend.reserved == 0 and not backend.sessions
                and backend.alive):
            self._spawn(self._end_when_idle(backend))

    @property
    def inprocess(self) -> Any:
        """The in-process backend (isolation "none"), else None."""
        return self._inprocess

    def session_count(self) -> int:
        """Sessions the front door knows."""
        return len(self._sessions)

    def process_count(self) -> int:
        """Live session processes (assigned and warm)."""
        return sum(1 for p in self._processes if p.alive)

    def owner_process(self, owner: str) -> Any:
        """The owner's process, or None (for tests and tools)."""
        return self._owners.get(owner)

    async def stats(self) -> dict[str, int]:
        """Kept-trace bytes and the dynamic batcher's counters (``batches``,
        ``batched_calls``) summed over every live process (asks each one)."""
        from gentf_server.supervisor.protocol import CONTROL_STATS

        backends = [self._inprocess] if self._inprocess is not None else [
            p for p in self._owners.values() if p.alive]
        totals = {"trace_bytes": 0, "batches": 0, "batched_calls": 0}
        for backend in backends:
            try:
                out = await backend.call(CONTROL_STATS, b"", 5.0)
                reply = json.loads(out.reply)
                for key in totals:
                    totals[key] += int(reply.get(key, 0))
            except Exception as exc:  # noqa: BLE001 - statistics are best effort
                log.debug("statistics of process %s: %s", backend.number, exc)
        return totals

    async def _leases_in_process(self, entries: list[SessionEntry]) -> None:
        """Renews the entries of sessions still leased in their process: calls made straight
        to a process's direct door renew only the process's own leases."""
        by_backend: dict[Any, list[SessionEntry]] = {}
        for entry in entries:
            if entry.backend.direct_port and entry.backend.alive:
                by_backend.setdefault(entry.backend, []).append(entry)
        for backend, group in by_backend.items():
            try:
                out = await backend.call(CONTROL_LEASES, json.dumps(
                    [e.session_id for e in group]).encode(), 5.0)
                left = json.loads(out.reply) if out.ok else {}
            except Exception as exc:  # noqa: BLE001 - the process may be gone: expire
                log.debug("leases of process %s: %s", backend.number, exc)
                continue
            now = time.monotonic()
            for entry in group:
                seconds = left.get(entry.session_id)
                if seconds is not None and seconds > 0:
                    entry.deadline = now + seconds

    async def _reap_leases(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            expired = [e for e in self._sessions.values() if e.deadline < now and e.in_flight == 0]
            if expired:
                await self._leases_in_process(expired)
                now = time.monotonic()
                expired = [e for e in expired if e.deadline < now and e.in_flight == 0
                           and self._sessions.get(e.session_id) is e]
            for entry in expired:
                log.info("session %s expired (owner %s)", entry.session_id, entry.owner)
                try:
                    from gentf.v1 import worker_pb2

                    request = worker_pb2.CloseSessionRequest(session_id=entry.session_id)
                    await entry.backend.call("CloseSession", request.SerializeToString(), 30.0)
                except Exception as exc:  # noqa: BLE001 - the process may be gone
                    log.debug("closing expired session %s: %s", entry.session_id, exc)
                self.forget(entry.session_id)
