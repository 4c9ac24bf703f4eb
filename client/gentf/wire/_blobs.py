"""Blobs: a tensor's bytes sent in chunks beside the call that uses them.

A ``gentf.v1.Tensor`` whose ``blob_id`` is set carries no ``content``: its elements are a
blob, sent with the ``PutBlob`` client stream (requests) or fetched with the ``GetBlob``
server stream (replies). This module holds what both sides share and that needs no gRPC:

- ``BlobChunk`` messages written and read by hand (a chunk's data is written from a
  memoryview and read into a preallocated buffer, with no intermediate message copy);
- the process-wide table of blob sources that :func:`gentf.wire.decode_tensor` asks for a
  blob's bytes (the client registers the blobs it fetched; a worker registers its store).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "CHUNK_BYTES",
    "BlobChunkHeader",
    "BlobReceiver",
    "add_blob_source",
    "blob_threshold",
    "chunk_frames",
    "hold_again",
    "hold_outgoing",
    "new_blob_id",
    "parse_chunk",
    "take_blob",
    "take_outgoing",
]

CHUNK_BYTES = 4 << 20
"""Bytes of data in one chunk (the research on gRPC Python found 1-8 MiB best)."""

BlobSource = Callable[[str], Any]
"""``source(blob_id)``: the blob's bytes as a writable buffer (removed from the source), or
None when the source does not hold it."""

_sources: list[weakref.ref[Any] | Callable[[], Any]] = []
_sources_lock = threading.Lock()


_HELD_PREFIX = secrets.token_hex(8)
_HELD_COUNT = itertools.count()


def _held_id() -> str:
    """A blob id for a held buffer (32 hex digits): a random prefix of this process and a
    count, unique without a system call per id."""
    return f"{_HELD_PREFIX}{next(_HELD_COUNT):016x}"


def new_blob_id() -> str:
    """A fresh random blob id (32 hex digits; unguessable, unique with overwhelming odds)."""
    return secrets.token_hex(16)  # os.urandom's bytes, as uuid4 has, without its object


def add_blob_source(source: BlobSource) -> None:
    """Registers ``source`` for :func:`take_blob`. A bound method is held weakly (the source
    goes away with its object); any other callable is held for the process's life."""
    ref: Any
    if hasattr(source, "__self__") and hasattr(source, "__func__"):
        ref = weakref.WeakMethod(source)
    else:
        ref = (lambda s=source: s)
    with _sources_lock:
        _sources.append(ref)


def take_blob(blob_id: str) -> Any:
    """The bytes of blob ``blob_id`` from the first source holding it, removed there.

    Raises ValueError when no source holds it (never sent, already used, or freed).
    """
    buf, dead = None, False
    for ref in tuple(_sources):  # (a copy: a source may register while one is asked)
        source = ref()
        if source is None:
            dead = True
            continue
        buf = source(blob_id)
        if buf is not None:
            break
    if dead:
        with _sources_lock:
            _sources[:] = [ref for ref in _sources if ref() is not None]
    if buf is None:
        raise ValueError(f"blob {blob_id!r} is not on this side of the wire (never sent, "
                         "already used by another call, or freed with its session)")
    return buf


_outgoing: dict[str, Any] = {}
_outgoing_lock = threading.Lock()


def hold_outgoing(data: Any) -> str:
    """Holds ``data`` (a contiguous buffer: a request tensor's elements) until the call that
    carries it is sent; returns the blob id the tensor names it by. The transport sends it
    as a blob (or inline) straight from this buffer, with no copy into the message."""
    blob_id = _held_id()
    with _outgoing_lock:
        _outgoing[blob_id] = data
    return blob_id


def hold_again(blob_id: str) -> str | None:
    """A second hold of the buffer held for ``blob_id`` (a new id; both stay held), or None
    when none is: a copy of a request can be sent while the original keeps its buffers."""
    with _outgoing_lock:
        data = _outgoing.get(blob_id)
        if data is None:
            return None
        again = _held_id()
        _outgoing[again] = data
        return again


def take_outgoing(blob_id: str) -> Any:
    """The buffer held for ``blob_id`` (no longer held), or None when none is."""
    with _outgoing_lock:
        return _outgoing.pop(blob_id, None)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _string_field(number: int, text: str) -> bytes:
    raw = text.encode()
    return bytes([number << 3 | 2]) + _varint(len(raw)) + raw


def chunk_frames(data: Any, *, session_id: str = "", blob_id: str = "",
                 chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[bytes, memoryview]]:
    """The chunks of ``data`` (a buffer) as ``(header, data slice)`` pairs: each pair,
    concatenated, is one serialized ``BlobChunk``. The first carries ``session_id``,
    ``blob_id`` (when given) and ``total_bytes``; there is always at least one chunk."""
    view = memoryview(data).cast("B")
    total = view.nbytes
    first = True
    offset = 0
    while first or offset < total:
        piece = view[offset:offset + chunk_bytes]
        head = b""
        if first:
            if session_id:
                head += _string_field(1, session_id)
            head += bytes([3 << 3]) + _varint(total)
            if blob_id:
                head += _string_field(4, blob_id)
        head += bytes([2 << 3 | 2]) + _varint(piece.nbytes)
        yield head, piece
        offset += piece.nbytes
        first = False


class BlobChunkHeader:
    """The small fields of one parsed ``BlobChunk`` and where its data lies in the buffer."""

    __slots__ = ("blob_id", "data_end", "data_start", "session_id", "total_bytes")

    def __init__(self) -> None:
        self.session_id = ""
        self.blob_id = ""
        self.total_bytes = 0
        self.data_start = 0
        self.data_end = 0


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint in a BlobChunk")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def parse_chunk(raw: Any, *, prefix: bool = False) -> BlobChunkHeader:
    """Reads a serialized ``BlobChunk`` without copying its data: the data is
    ``raw[header.data_start:header.data_end]``. Unknown fields are skipped.

    With ``prefix``, ``raw`` may be only the start of the message: parsing stops at a
    ``data`` field that runs past its end (``data_end`` is then past ``len(raw)``, and the
    fields after the data, if any, are left unread), so a reader can receive the data
    straight into its destination.

    Raises ValueError when the bytes are not a valid ``BlobChunk`` (or, with ``prefix``,
    when they end inside a field other than ``data``).
    """
    buf = memoryview(raw).cast("B")
    out = BlobChunkHeader()
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            if number == 3:
                out.total_bytes = value
            continue
        if wire == 2:
            length, pos = _read_varint(buf, pos)
            end = pos + length
            if end > n:
                if prefix and number == 2:
                    out.data_start, out.data_end = pos, end
                    return out
                raise ValueError("a BlobChunk field runs past the end of the message")
            if number == 1:
                out.session_id = bytes(buf[pos:end]).decode()
            elif number == 4:
                out.blob_id = bytes(buf[pos:end]).decode()
            elif number == 2:
                out.data_start, out.data_end = pos, end
            pos = end
            continue
        if wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"a BlobChunk has a field of unsupported wire type {wire}")
        if pos > n:
            raise ValueError("a BlobChunk field runs past the end of the message")
    return out


def blob_threshold(cap: int) -> int:
    """Tensors of at least this many bytes travel as blobs when the message cap is ``cap``:
    a quarter of the cap, at most 64 MiB (so one message never nears the cap)."""
    return max(1 << 10, min(cap // 4, 64 << 20))


class BlobReceiver:
    """A reply blob arriving chunk by chunk into one new uint8 array (allocated at the
    first chunk, from the total it announces)."""

    def __init__(self, blob_id: str) -> None:
        self.blob_id = blob_id
        self._buffer: Any = None
        self._view: Any = None
        self._written = 0

    def next_view(self, head: BlobChunkHeader) -> memoryview:
        """Where the data of the chunk ``head`` describes goes (the next bytes of the array);
        ValueError when it runs past the announced total."""
        if self._buffer is None:
            import numpy as np

            self._buffer = np.empty(head.total_bytes, dtype=np.uint8)
            self._view = memoryview(self._buffer).cast("B")
        n = head.data_end - head.data_start
        if self._written + n > len(self._view):
            raise ValueError(f"blob {self.blob_id!r}: the worker sent more than it announced")
        target = self._view[self._written:self._written + n]
        self._written += n
        return target  # type: ignore[no-any-return]

    def result(self) -> Any:
        """The array; ValueError unless every announced byte arrived."""
        if self._buffer is None or self._written != len(self._view):
            raise ValueError(f"blob {self.blob_id!r}: the stream ended after "
                             f"{self._written} bytes")
        return self._buffer

