"""The trace store: arguments of recent traces kept on the worker under integer handles.

Bounded in bytes and in count; the least recently used trace is dropped first. A dropped
handle is not an error for the client: it resends the arguments.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from gentf_server.core import errors

__all__ = ["TraceRecord", "TraceStore"]


@dataclass(frozen=True)
class TraceRecord:
    """A kept trace: its function, arguments (TensorFlow tensors) and return value's shape."""

    function_id: str
    args: tuple[Any, ...]
    retval_shape: tuple[int, ...]
    nbytes: int


class TraceStore:
    """Handle -> TraceRecord, least recently used first out, within ``max_bytes`` and ``max_traces``."""

    def __init__(self, max_bytes: int, max_traces: int) -> None:
        self.max_bytes = max_bytes
        self.max_traces = max_traces
        self._records: OrderedDict[int, TraceRecord] = OrderedDict()
        self._bytes = 0
        self._next = itertools.count(1)

    def __len__(self) -> int:
        return len(self._records)

    @property
    def nbytes(self) -> int:
        """Bytes of arguments held."""
        return self._bytes

    def put(self, record: TraceRecord) -> int:
        """Keeps ``record`` and returns its handle (0: too large to keep)."""
        if record.nbytes > self.max_bytes:
            return 0
        handle = next(self._next)
        self._records[handle] = record
        self._bytes += record.nbytes
        while self._bytes > self.max_bytes or len(self._records) > self.max_traces:
            _, old = self._records.popitem(last=False)
            self._bytes -= old.nbytes
        return handle

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
            self._bytes -= record.nbytes

    def clear(self) -> None:
        """Drops every trace."""
        self._records.clear()
        self._bytes = 0
