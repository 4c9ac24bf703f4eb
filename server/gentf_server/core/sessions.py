"""All sessions of a worker: creation with a lease, lookup (which renews), closing, expiry.

Closing never waits for a call in progress on the session (a blocked call must not hang
CreateSession or the reaper): the session is forgotten at once and frees its memory when
its last call ends. After a session's memory is dropped, the process gives it back to the
operating system as far as it can (a garbage collection, then ``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import math
import threading
import time

from gentf_server.core import errors
from gentf_server.core.registry import OpRegistry
from gentf_server.core.session import Session, SessionLimits

__all__ = ["SessionManager", "return_memory"]

log = logging.getLogger("gentf_server.sessions")


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


_LIBC = _load_libc()


def return_memory() -> None:
    """Collects garbage and asks the C allocator to give freed memory back to the system
    (glibc's ``malloc_trim``; nothing more on other C libraries)."""
    gc.collect()
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


class SessionManager:
    """Creates, finds and expires sessions. Thread-safe."""

    def __init__(
        self,
        registry: OpRegistry,
        default_lease_seconds: float = 3600.0,
        max_lease_seconds: float = 7 * 86400.0,
        max_sessions: int = 64,
        limits: SessionLimits | None = None,
    ) -> None:
        self.registry = registry
        self.default_lease_seconds = default_lease_seconds
        self.max_lease_seconds = max_lease_seconds
        self.max_sessions = max_sessions
        self._limits = limits or SessionLimits()
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    def create(self, lease_seconds: float = 0.0) -> Session:
        """A new session; ResourceExhausted past ``max_sessions`` (naming ``--max-sessions``),
        InvalidArgument for a negative, NaN or infinite lease (0: the default lease)."""
        if not math.isfinite(lease_seconds) or lease_seconds < 0:
            raise errors.InvalidArgument(
                f"lease_seconds must be a finite number >= 0 (0: the default), got {lease_seconds}")
        lease = min(lease_seconds or self.default_lease_seconds, self.max_lease_seconds)
        self.expire()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise errors.ResourceExhausted(
                    f"the worker holds {len(self._sessions)} sessions, its maximum; close one "
                    f"first (raise the limit with --max-sessions)")
            session = Session(self.registry, lease, self._limits)
            self._sessions[session.session_id] = session
        log.info("session %s opened (lease %.0f s)", session.session_id, lease)
        return session

    def get(self, session_id: str) -> Session:
        """The session, with its lease renewed; NotFound if unknown, closed or expired."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or session.deadline < time.monotonic():
            if session is not None:
                self.close(session_id)
            raise errors.NotFound(f"no session {session_id!r} (never opened, closed, or its lease ran out)")
        session.touch()
        return session

    def close(self, session_id: str) -> None:
        """Closes and forgets the session, and returns its memory to the system; NotFound if
        unknown. Never waits: a call in progress on the session frees it when it ends."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            raise errors.NotFound(f"no session {session_id!r}")
        if session.close():
            return_memory()
            log.info("session %s closed", session_id)
        else:
            log.info("session %s closed; a call in progress frees it when it ends", session_id)

    def close_all(self) -> None:
        """Closes every session (shutdown)."""
        with self._lock:
            ids = list(self._sessions)
        for session_id in ids:
            try:
                self.close(session_id)
            except errors.NotFound:
                pass

    def expire(self) -> int:
        """Closes sessions whose lease ran out; returns how many."""
        now = time.monotonic()
        with self._lock:
            expired = [sid for sid, s in self._sessions.items() if s.deadline < now]
        for sid in expired:
            try:
                self.close(sid)
                log.info("session %s expired", sid)
            except errors.NotFound:
                pass
        return len(expired)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def snapshot(self) -> list[Session]:
        """The open sessions, as a list (for statistics)."""
        with self._lock:
            return list(self._sessions.values())

    def start_reaper(self, interval_seconds: float = 30.0) -> None:
        """Starts a daemon thread that expires sessions every ``interval_seconds``."""
        def loop() -> None:
            while not self._stop.wait(interval_seconds):
                self.expire()

        self._reaper = threading.Thread(target=loop, name="gentf-session-reaper", daemon=True)
        self._reaper.start()

    def stop_reaper(self) -> None:
        """Stops the reaper thread."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5)
