"""All sessions of a worker: creation with a lease, lookup (which renews), closing, expiry.

Closing never waits for a call in progress on the session (a blocked call must not hang
CreateSession or the reaper): the session is forgotten at once and frees its memory when
its last call ends. After a session's memory is dropped, the process gives it back to the
operating system as far as it can (a garbage collection, then ``malloc_trim``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import logging
import math
import threading
import time

from gentf_server.core import errors
from gentf_server.core.checkpoints import CheckpointStore, check_name
from gentf_server.core.checkpoints import owner_digest as _digest
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
        store: CheckpointStore | None = None,
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
        self.store = store
        """Where named sessions are checkpointed (``--state-dir``), or None."""
        self._names: dict[str, str] = {}

    def create(self, lease_seconds: float = 0.0, name: str = "", owner: str = "") -> Session:
        """A new session; ResourceExhausted past ``max_sessions`` (naming ``--max-sessions``),
        InvalidArgument for a negative, NaN or infinite lease (0: the default lease).

        With ``name``: a durable session of ``owner``, restored from the name's latest
        checkpoint (see ``core.checkpoints``); a session of the same name still open here
        is checkpointed and closed first (the name re-attaches). FailedPrecondition when the
        worker has no state directory, PermissionDenied when the name is another owner's.
        """
        if not math.isfinite(lease_seconds) or lease_seconds < 0:
            raise errors.InvalidArgument(
                f"lease_seconds must be a finite number >= 0 (0: the default), got {lease_seconds}")
        lease = min(lease_seconds or self.default_lease_seconds, self.max_lease_seconds)
        self.expire()
        named = None
        if name:
            check_name(name)
            if self.store is None:
                raise errors.FailedPrecondition(
                    f"session name {name!r}: this worker keeps no checkpoints (start it with "
                    f"--state-dir DIR to have named sessions)")
            with self._lock:
                previous = self._sessions.get(self._names.get(name, ""))
            if previous is not None:
                if previous.named is not None and previous.named.owner != _digest(owner):
                    raise errors.PermissionDenied(f"session name {name!r} belongs to another owner")
                log.info("session %s (%s) re-attached: the previous session closes", name,
                         previous.session_id)
                with contextlib.suppress(errors.NotFound):
                    self.close(previous.session_id)
            named = self.store.open(name, owner)
        try:
            with self._lock:
                if len(self._sessions) >= self.max_sessions:
                    raise errors.ResourceExhausted(
                        f"the worker holds {len(self._sessions)} sessions, its maximum; close one "
                        f"first (raise the limit with --max-sessions)")
                session = Session(self.registry, lease, self._limits)
                if named is not None:
                    session.name, session.named = name, named
                    session.applied = named.applied
                    self._names[name] = session.session_id
                self._sessions[session.session_id] = session
        except BaseException:
            if named is not None:
                named.release()
            raise
        log.info("session %s opened (lease %.0f s%s)", session.session_id, lease,
                 f", name {name}" if name else "")
        return session

    def save(self, session: Session, force: bool = False) -> str:
        """Checkpoints a named session (when it changed since its last save, or ``force``);
        returns the checkpoint's prefix ("" when nothing was due). FailedPrecondition for an
        unnamed session."""
        named = session.named
        if named is None:
            raise errors.FailedPrecondition(
                f"session {session.session_id} has no name: only named sessions are "
                f"checkpointed (tf.Session(..., name=...) on a worker with --state-dir)")
        with session.locked():
            changes = session.changes
            if not force and changes == named.saved_changes:
                return ""
            values = session.variable_tensors()
            applied = session.applied.to_list()
        return str(named.save(values, applied, changes))

    def save_changed(self, older_than: float = 0.0) -> int:
        """Checkpoints every changed named session last saved at least ``older_than`` seconds
        ago; returns how many were saved. A failure is logged, never raised."""
        now = time.monotonic()
        count = 0
        for session in self.snapshot():
            named = session.named
            if named is None or session.closed or session.changes == named.saved_changes:
                continue
            if now - named.last_save < older_than:
                continue
            try:
                if self.save(session):
                    count += 1
            except Exception:
                log.exception("checkpoint of session %s failed", session.name)
        return count

    def start_checkpointer(self) -> None:
        """With a state directory and ``every_seconds`` > 0: a daemon thread that saves
        changed named sessions at most every ``every_seconds``, off the request path."""
        if self.store is None or self.store.every_seconds <= 0:
            return
        every = self.store.every_seconds

        def loop() -> None:
            while not self._stop.wait(min(every, 1.0)):
                self.save_changed(older_than=every)

        threading.Thread(target=loop, name="gentf-checkpointer", daemon=True).start()

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

    def close(self, session_id: str, delete_checkpoints: bool = False) -> None:
        """Closes and forgets the session, and returns its memory to the system; NotFound if
        unknown. Never waits: a call in progress on the session frees it when it ends.
        A named session is checkpointed first if it changed (or, with
        ``delete_checkpoints``, its checkpoints are removed), then its name is released."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise errors.NotFound(f"no session {session_id!r}")
        if session.named is not None:
            try:
                if delete_checkpoints:
                    session.named.delete()
                else:
                    self.save(session)
            except Exception:
                log.exception("checkpoint of session %s at close failed", session.name)
            session.named.release()
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is not None and self._names.get(session.name) == session_id:
                del self._names[session.name]
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

    def seconds_left(self, session_ids: list[str]) -> dict[str, float | None]:
        """Seconds left of each session's lease (None: not open here), renewing none."""
        now = time.monotonic()
        with self._lock:
            found = {sid: self._sessions.get(sid) for sid in session_ids}
        return {sid: None if s is None else s.deadline - now for sid, s in found.items()}

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
