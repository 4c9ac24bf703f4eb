"""The no-isolation backend: sessions run in the front door's own process.

For an embedded single-user worker and for tests that look at core state directly. It has
the interface of a :class:`~gentf_server.supervisor.process.SessionProcess` (``call``,
``sessions``, ``alive``), runs each call on a thread pool, and imports TensorFlow.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from gentf_server.calls import Outcome
from gentf_server.supervisor.protocol import CONTROL_STATS

__all__ = ["InProcessBackend"]


class InProcessBackend:
    """Every owner's sessions in this process, served by a core Dispatcher on threads."""

    number = 0
    pid = 0
    alive = True
    exit_reason = None
    owner = None
    reserved = 0
    direct_port = None
    direct_handoff = None

    def __init__(self, config: dict[str, Any], threads: int) -> None:
        from gentf_server.core.checkpoints import CheckpointStore
        from gentf_server.core.devices import configure_devices
        from gentf_server.core.dispatch import Dispatcher
        from gentf_server.core.registry import op_registry
        from gentf_server.core.session import session_limits
        from gentf_server.core.sessions import SessionManager

        configure_devices(config.get("devices", {}))
        self.manager = SessionManager(
            op_registry(), default_lease_seconds=config["lease_seconds"],
            max_sessions=config["max_sessions"], limits=session_limits(config.get("limits", {})),
            store=CheckpointStore(config["state_dir"], float(config.get("checkpoint_seconds", 30)))
            if config.get("state_dir") else None)
        self.manager.start_checkpointer()
        self.dispatcher = Dispatcher(self.manager, config["max_message_bytes"],
                                     config.get("max_reply_bytes"),
                                     batching=config.get("batching"))
        self.sessions: set[str] = set()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gentf-call")

    async def call(self, method: str | int, payload: bytes, timeout: float | None) -> Outcome:
        """Runs the call on a thread; asyncio.TimeoutError past ``timeout`` (the call itself
        cannot be stopped and finishes in the background)."""
        loop = asyncio.get_running_loop()
        if method == CONTROL_STATS:
            live = self.manager.snapshot()
            stats = {"sessions": len(live), "trace_bytes": sum(s.kept_trace_bytes() for s in live),
                     **self.dispatcher.batcher.stats()}
            return Outcome("OK", reply=json.dumps(stats).encode())
        assert isinstance(method, str)
        future = loop.run_in_executor(self._executor, self.dispatcher.handle, method, payload)
        return await asyncio.wait_for(asyncio.shield(future), timeout)

    def call_blocking(self, method: str, payload: bytes, timeout: float | None) -> Outcome:
        """:meth:`call` from a front-door thread: runs on this backend's threads;
        TimeoutError past ``timeout`` (the call itself finishes in the background)."""
        future = self._executor.submit(self.dispatcher.handle, method, payload)
        try:
            return future.result(timeout)
        except FutureTimeout:  # not the built-in TimeoutError before Python 3.11
            raise TimeoutError(f"{method} ran over {timeout} s") from None

    def put_blob_blocking(self, first: bytes, rest: Iterator[bytes],
                          timeout: float | None) -> Outcome:
        """Stores a PutBlob stream's chunks as they arrive, in the calling thread (the
        client's own deadline bounds a stream that stalls)."""
        return self.dispatcher.put_blob(itertools.chain((first,), rest))

    def get_blob_blocking(self, request: bytes) -> tuple[Outcome, Iterator[bytes] | None]:
        """(outcome, the blob's serialized chunks, or None)."""
        outcome, frames = self.dispatcher.get_blob(request)
        if frames is None:
            return outcome, None
        return outcome, (head + data.tobytes() for head, data in frames)

    def kill_soon(self, reason: str) -> None:
        """Nothing to kill: calls in this process cannot be stopped."""

    def kill(self, reason: str | None = None) -> None:
        """Nothing to kill: calls in this process cannot be stopped."""

    async def stop(self, grace_seconds: float) -> None:
        """Closes every session (named ones checkpointed) and stops the threads."""
        self.manager.close_all()
        self.manager.stop_reaper()
        self._executor.shutdown(wait=False, cancel_futures=True)
