"""Blobs on the worker: tensor bytes that travel in chunks beside the calls that use them.

A client sends a big tensor's bytes with ``PutBlob`` (they land in one preallocated buffer,
chunk by chunk) and names the blob in a request's ``Tensor.blob_id``; decoding the request
takes the buffer and wraps it as the array, with no copy. A reply tensor too big for one
message is kept here (the array itself, no copy) until the client streams it with
``GetBlob``. Every blob belongs to a session: it is freed when a call uses it, when the
client fetches it, or when its session closes. A session's blobs are bounded
(``--max-blob-mb``): an upload over the bound is RESOURCE_EXHAUSTED; a reply blob over it
evicts that session's oldest unfetched reply blobs (the client fetches right after each
call, so those are abandoned).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from gentf.wire._blobs import add_blob_source, new_blob_id

from gentf_server.core import errors
from gentf_server.core.limits import over_limit
from gentf_server.core.tensors import aligned_empty

__all__ = ["BlobStore", "Upload"]

MAX_BLOB_ID_CHARS = 64


@dataclass
class _Blob:
    session_id: str
    buffer: Any          # np.ndarray: uint8 for uploads, the reply array for reply blobs
    nbytes: int


class Upload:
    """One ``PutBlob`` in progress: bytes are written in order into a preallocated buffer;
    :meth:`finish` stores the blob, :meth:`abort` releases its reservation."""

    def __init__(self, store: BlobStore, session_id: str, blob_id: str, total: int) -> None:
        self.store = store
        self.session_id = session_id
        self.blob_id = blob_id
        self.total = total
        self.buffer = aligned_empty(total)  # tensors share it with no copy
        self.view = memoryview(self.buffer).cast("B")
        self.written = 0
        self._done = False

    def write(self, data: memoryview) -> None:
        """Appends ``data``; InvalidArgument when it would run past the announced size."""
        n = data.nbytes
        self.next_view(n)[:] = data
        self.written += n

    def next_view(self, n: int) -> memoryview:
        """The buffer's next ``n`` bytes, to be filled in place (then :meth:`advance`);
        InvalidArgument when they would run past the announced size."""
        if self.written + n > self.total:
            raise errors.InvalidArgument(
                f"blob {self.blob_id!r}: the chunks carry more than the announced "
                f"total_bytes of {self.total:,}")
        return self.view[self.written:self.written + n]

    def advance(self, n: int) -> None:
        """Counts ``n`` bytes filled in place through :meth:`next_view`."""
        self.written += n

    def finish(self) -> None:
        """Stores the blob; InvalidArgument when fewer bytes came than announced."""
        if self.written != self.total:
            self.abort()
            raise errors.InvalidArgument(
                f"blob {self.blob_id!r}: {self.written:,} bytes arrived, total_bytes "
                f"announced {self.total:,}")
        self._done = True
        self.store._stored(self)

    def abort(self) -> None:
        """Gives the reserved bytes back (idempotent; nothing after :meth:`finish`)."""
        if not self._done:
            self._done = True
            self.store._release(self.session_id, self.blob_id, self.total)


class BlobStore:
    """The blobs of every session of one Dispatcher; thread-safe.

    ``max_session_bytes`` bounds one session's blobs (uploads in progress included).
    Registers itself as a source of :func:`gentf.wire.decode_tensor`'s blobs.
    """

    def __init__(self, max_session_bytes: int) -> None:
        self.max_session_bytes = max_session_bytes
        self._lock = threading.Lock()
        self._incoming: dict[str, _Blob] = {}
        self._outgoing: OrderedDict[str, _Blob] = OrderedDict()
        self._reserved: set[str] = set()
        self._bytes: dict[str, int] = {}
        add_blob_source(self.take)

    def session_bytes(self, session_id: str) -> int:
        """Bytes the session's blobs hold now."""
        with self._lock:
            return self._bytes.get(session_id, 0)

    def total_bytes(self) -> int:
        """Bytes every blob holds now."""
        with self._lock:
            return sum(self._bytes.values())

    def begin_upload(self, session_id: str, blob_id: str, total: int) -> Upload:
        """Reserves ``total`` bytes for a new blob of the session and returns its Upload.

        InvalidArgument for a bad id or size, AlreadyExists for an id in use,
        ResourceExhausted (naming ``--max-blob-mb``) over the session's bound.
        """
        if not blob_id or len(blob_id) > MAX_BLOB_ID_CHARS:
            raise errors.InvalidArgument(
                f"a blob needs a blob_id of 1-{MAX_BLOB_ID_CHARS} characters, got {blob_id!r}")
        if total < 0:
            raise errors.InvalidArgument(f"blob {blob_id!r}: total_bytes {total} is negative")
        with self._lock:
            if blob_id in self._incoming or blob_id in self._outgoing or blob_id in self._reserved:
                raise errors.AlreadyExists(f"blob {blob_id!r} exists already")
            used = self._bytes.get(session_id, 0)
            if used + total > self.max_session_bytes:
                raise over_limit(f"session {session_id}'s blobs", used + total,
                                 self.max_session_bytes, "--max-blob-mb", "MiB")
            self._bytes[session_id] = used + total
            self._reserved.add(blob_id)
        try:
            return Upload(self, session_id, blob_id, total)
        except MemoryError:
            self._release(session_id, blob_id, total)
            raise

    def _stored(self, upload: Upload) -> None:
        with self._lock:
            self._reserved.discard(upload.blob_id)
            self._incoming[upload.blob_id] = _Blob(upload.session_id, upload.buffer, upload.total)

    def _release(self, session_id: str, blob_id: str, nbytes: int) -> None:
        with self._lock:
            self._reserved.discard(blob_id)
            self._uncount(session_id, nbytes)

    def _uncount(self, session_id: str, nbytes: int) -> None:
        left = self._bytes.get(session_id, 0) - nbytes
        if left > 0:
            self._bytes[session_id] = left
        else:
            self._bytes.pop(session_id, None)

    def take(self, blob_id: str) -> Any:
        """An uploaded blob's buffer, removed from the store (None when not held here)."""
        with self._lock:
            blob = self._incoming.pop(blob_id, None)
            if blob is None:
                return None
            self._uncount(blob.session_id, blob.nbytes)
            return blob.buffer

    def keep_reply(self, session_id: str, array: np.ndarray[Any, Any]) -> str:
        """Keeps a reply tensor's array (C-contiguous, little-endian) for GetBlob; its id."""
        blob_id = new_blob_id()
        nbytes = int(array.nbytes)
        with self._lock:
            used = self._bytes.get(session_id, 0)
            for old_id, old in list(self._outgoing.items()):
                if used + nbytes <= self.max_session_bytes:
                    break
                if old.session_id == session_id:
                    del self._outgoing[old_id]
                    used -= old.nbytes
                    self._uncount(session_id, old.nbytes)
            self._outgoing[blob_id] = _Blob(session_id, array, nbytes)
            self._bytes[session_id] = self._bytes.get(session_id, 0) + nbytes
        return blob_id

    def reply_bytes(self, blob_id: str) -> int:
        """Bytes of a reply blob still held (0 when not held)."""
        with self._lock:
            blob = self._outgoing.get(blob_id)
            return 0 if blob is None else blob.nbytes

    def take_reply(self, session_id: str, blob_id: str) -> memoryview:
        """The bytes of a reply blob of the session, removed from the store; NotFound when
        there is none of that id."""
        with self._lock:
            blob = self._outgoing.get(blob_id)
            if blob is None or blob.session_id != session_id:
                raise errors.NotFound(
                    f"session {session_id} has no reply blob {blob_id!r} (already fetched, "
                    "or freed)")
            del self._outgoing[blob_id]
            self._uncount(session_id, blob.nbytes)
        return memoryview(blob.buffer).cast("B")

    def drop(self, blob_ids: list[str]) -> None:
        """Frees the given blobs (reply blobs of a failed call); unknown ids are ignored."""
        with self._lock:
            for blob_id in blob_ids:
                blob = self._outgoing.pop(blob_id, None) or self._incoming.pop(blob_id, None)
                if blob is not None:
                    self._uncount(blob.session_id, blob.nbytes)

    def drop_sessions(self, keep: set[str] | None = None, only: str | None = None) -> None:
        """Frees the blobs of session ``only``, or of every session not in ``keep``."""
        with self._lock:
            for table in (self._incoming, self._outgoing):
                for blob_id, blob in list(table.items()):
                    gone = blob.session_id == only if only is not None else (
                        keep is not None and blob.session_id not in keep)
                    if gone:
                        del table[blob_id]
                        self._uncount(blob.session_id, blob.nbytes)
