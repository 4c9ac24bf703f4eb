"""The trace store: arguments of recent traces kept on the worker under integer handles.

Bounded in bytes and in count; the least recently used trace is dropped first. A dropped
handle is not an error for the client: it resends the arguments.

A trace may also hold the tensors its forward saved for its parameter gradient
(``core.saved``). They are a cache, never a reason to drop a trace: when the store is over
its bytes, saved tensors go first (the oldest first), and only then whole traces; and
:meth:`TraceStore.drop_saved_before` lets them go once they can no longer serve.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any, NamedTuple

from gentf_server.core import errors

__all__ = ["TraceRecord", "TraceStore"]


class TraceRecord(NamedTuple):
    """A kept trace: its function, arguments (TensorFlow tensors, ``nbytes`` bytes) and
    return value's shape. ``saved`` are the tensors its forward saved for the parameter
    gradient (``core.saved``; ``saved_bytes`` bytes, none by default), made in the
    session's write epoch ``epoch``."""

    function_id: str
    args: tuple[Any, ...]
    retval_shape: tuple[int, ...]
    nbytes: int
    saved: tuple[Any, ...] = ()
    saved_bytes: int = 0
    epoch: int = -1

    @property
    def held_bytes(self) -> int:
        """Bytes the record holds: arguments and saved tensors."""
        return self.nbytes + self.saved_bytes


class TraceStore:
    """Handle -> TraceRecord, least recently used first out, within ``max_bytes`` and ``max_traces``."""

    def __init__(self, max_bytes: int, max_traces: int) -> None:
        self.max_bytes = max_bytes
        self.max_traces = max_traces
        self._records: OrderedDict[int, TraceRecord] = OrderedDict()
        self._saving: OrderedDict[int, None] = OrderedDict()
        """Handles of the records holding saved tensors, oldest first."""
        self._bytes = 0
        self._next = itertools.count(1)

    def __len__(self) -> int:
        return len(self._records)

    @property
    def nbytes(self) -> int:
        """Bytes of arguments (and saved tensors) held."""
        return self._bytes

    def put(self, record: TraceRecord) -> int:
        """Keeps ``record`` and returns its handle (0: its arguments alone are too large to
        keep). Saved tensors that do not fit are let go before any trace is dropped."""
        if record.held_bytes > self.max_bytes:
            record = _without_saved(record)
            if record.held_bytes > self.max_bytes:
                return 0
        handle = next(self._next)
        self._records[handle] = record
        self._bytes += record.held_bytes
        if record.saved:
            self._saving[handle] = None
        while self._bytes > self.max_bytes and self._saving:
            self._strip(next(iter(self._saving)))
        while self._bytes > self.max_bytes or len(self._records) > self.max_traces:
            old_handle, old = self._records.popitem(last=False)
            self._bytes -= old.held_bytes
            self._saving.pop(old_handle, None)
        return handle

    def drop_saved_before(self, epoch: int) -> None:
        """Lets go of the saved tensors of every record made before ``epoch``."""
        while self._saving:
            handle = next(iter(self._saving))
            if self._records[handle].epoch >= epoch:
                return
            self._strip(handle)

    def _strip(self, handle: int) -> None:
        record = self._records[handle]
        self._records[handle] = _without_saved(record)
        self._bytes -= record.saved_bytes
        del self._saving[handle]

    def get(self, handle: int, function_id: str) -> TraceRecord:
        """The record for ``handle``; TraceNotFound if dropped, InvalidArgument if of another function."""
        record = self._records.get(handle)
        if record is None:
            raise errors.TraceNotFound(f"trace handle {handle} is not held (dropped or never issued)")
        if record.function_id != function_id:
            raise errors.InvalidArgument(
                f"trace handle {handle} belongs to function {record.function_id}, not {function_id}")
        self._records.move_to_end(handle)
        return record

    def peek(self, handle: int) -> TraceRecord | None:
        """The record for ``handle`` without marking it used; None if not held."""
        return self._records.get(handle)

    def drop(self, handle: int) -> None:
        """Forgets ``handle`` (nothing happens if it is not held)."""
        record = self._records.pop(handle, None)
        if record is not None:
            self._bytes -= record.held_bytes
            self._saving.pop(handle, None)

    def clear(self) -> None:
        """Drops every trace."""
        self._records.clear()
        self._saving.clear()
        self._bytes = 0


def _without_saved(record: TraceRecord) -> TraceRecord:
    return record._replace(saved=(), saved_bytes=0)
