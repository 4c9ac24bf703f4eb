"""The session process: one owner's sessions and TensorFlow runtime, served on a Unix socket.

Started by the supervisor as ``python -m gentf_server.supervisor.child CONFIG_JSON`` (spawned,
never forked from a process holding gRPC or TensorFlow state). It sets its memory limit
before importing TensorFlow, listens on the socket path in its configuration, prints
``READY`` on stdout, and serves each connection in its own thread: a call is read whole,
handed to the core Dispatcher, and answered. It exits when its stdin closes (the front door
went away, however it died) or on SIGTERM; first it checkpoints every named session that
changed since its last checkpoint (the front door SIGKILLs it after its grace period).
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import resource
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gentf.wire._blobs import add_blob_source, parse_chunk
from gentf.wire._frames import recv_into_exactly

from gentf_server.calls import METHOD_NAMES, Outcome
from gentf_server.supervisor.protocol import (
    ATTACHED,
    CONTROL_DIRECT,
    CONTROL_GET_BLOB,
    CONTROL_LEASES,
    CONTROL_PUT_BLOB,
    CONTROL_STATS,
    EXIT_OVER_DEADLINE,
    FRAME_HEADER,
    BadAttachments,
    PayloadTooLarge,
    encode_reply,
    recv_attachments,
    recv_exactly,
    recv_request,
    send_frames,
)

__all__ = ["main"]

log = logging.getLogger("gentf_server.session_process")


_SESSIONS: list[Any] = []
_EXITING = threading.Lock()


def _exit_saving(why: str) -> None:
    """Checkpoints every changed named session, then ends the process (once)."""
    if not _EXITING.acquire(blocking=False):
        return
    try:
        for sessions in _SESSIONS:
            saved = sessions.save_changed()
            if saved:
                log.info("%s: checkpointed %d named session(s) before exiting", why, saved)
    except BaseException:
        log.exception("checkpoints before exiting failed")
    finally:
        os._exit(0)


def _watch_parent() -> None:
    """Exits the process when stdin reaches EOF: the front door is gone."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        _exit_saving("the front door is gone")


def _enlarge_buffers(conn: socket.socket) -> None:
    """Asks for send and receive buffers big enough for a step's reply in one system call
    (the kernel caps them at ``net.core.wmem_max``/``rmem_max``)."""
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            conn.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
        except OSError:  # pragma: no cover - a kernel refusing is only slower
            pass


def _limit_memory(megabytes: int) -> None:
    if megabytes > 0:
        limit = megabytes << 20
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


@dataclass(frozen=True)
class _DoorRules:
    """What a direct door's connection may do (see ``supervisor.direct``)."""

    allowed: frozenset[int]
    """The call indexes it may make (blob streams besides)."""
    max_payload: int
    """The most bytes of one request or blob frame."""
    enter: Callable[[str], None]
    """Called with the method's name before each call (the deadline watchdog)."""
    leave: Callable[[], None]
    """Called after each call."""


def _serve_direct(dispatcher: Any, conn: socket.socket, allowed: frozenset[int],
                  max_payload: int, enter: Callable[[str], None], leave: Callable[[], None]) -> None:
    """Serves a direct door's greeted connection (see :func:`_serve_connection`)."""
    _serve_connection(conn, dispatcher, _DoorRules(allowed, max_payload, enter, leave))


def _serve_connection(conn: socket.socket, dispatcher: Any, door: _DoorRules | None = None) -> None:
    """Serves a connection's calls in turn until it closes: from the front door (``door``
    None) every call and the control calls; from a direct door only ``door.allowed`` calls
    and blob streams, within ``door.max_payload``, timed by ``door.enter``/``door.leave``
    (a blob stream goes at the client's pace: not timed)."""
    max_payload = None if door is None else door.max_payload
    with conn:
        while True:
            try:
                request = recv_request(conn, max_payload)
            except PayloadTooLarge as exc:
                send_frames(conn, encode_reply(Outcome("RESOURCE_EXHAUSTED", str(exc))))
                return
            except ConnectionError:
                return
            if request is None:
                return
            index, payload = request
            attached: dict[str, Any] = {}
            refused = ""
            if index & ATTACHED:
                index &= ~ATTACHED
                if index >= len(METHOD_NAMES):  # blob streams and control calls take none
                    send_frames(conn, encode_reply(Outcome(
                        "INVALID_ARGUMENT", f"call {index} takes no attachments")))
                    return
                try:
                    attached = recv_attachments(
                        conn, None if max_payload is None else max_payload - len(payload))
                except PayloadTooLarge as exc:
                    send_frames(conn, encode_reply(Outcome("RESOURCE_EXHAUSTED", str(exc))))
                    return
                except BadAttachments as exc:
                    refused = str(exc)
                except ConnectionError:
                    return
            if index == CONTROL_GET_BLOB:
                if not _send_blob(conn, dispatcher, bytes(payload)):
                    return
                continue
            if index == CONTROL_PUT_BLOB:
                try:
                    outcome = dispatcher.put_blob(_put_chunks(payload, conn, max_payload))
                except ConnectionError:
                    return
            elif refused or not _lay_out(attached):
                outcome = Outcome("INVALID_ARGUMENT", refused or "an attachment id is in use "
                                                                 "by another call")
            elif door is None:
                try:
                    outcome = _front_door_call(dispatcher, index, payload)
                finally:
                    _clear(attached)
            elif index in door.allowed:
                door.enter(METHOD_NAMES[index])
                try:
                    outcome = dispatcher.handle(METHOD_NAMES[index], payload, attach_replies=True)
                finally:
                    door.leave()
                    _clear(attached)
            else:
                _clear(attached)
                name = METHOD_NAMES[index] if index < len(METHOD_NAMES) else f"call {index}"
                outcome = Outcome("UNIMPLEMENTED", f"the direct door does not serve {name}: "
                                                   "call it through the worker's front door")
            del payload, attached
            try:
                send_frames(conn, encode_reply(outcome))
            except OSError:
                return


_ATTACHED: dict[str, Any] = {}
"""The attachments of the calls being served, by blob id: a source of
:func:`gentf.wire.decode_tensor`'s blobs, so a request tensor wraps its attachment's buffer."""
_ATTACHED_LOCK = threading.Lock()


def _take_attached(blob_id: str) -> Any:
    with _ATTACHED_LOCK:
        return _ATTACHED.pop(blob_id, None)


add_blob_source(_take_attached)


def _lay_out(attached: dict[str, Any]) -> bool:
    """Makes a call's attachments available to its tensors; False (nothing laid out) when
    another call's attachment has one of their ids."""
    if not attached:
        return True
    with _ATTACHED_LOCK:
        if not _ATTACHED.keys().isdisjoint(attached):
            return False
        _ATTACHED.update(attached)
    return True


def _clear(attached: dict[str, Any]) -> None:
    """Lets go of a call's attachments that none of its tensors took."""
    if attached:
        with _ATTACHED_LOCK:
            for blob_id, buffer in attached.items():
                if _ATTACHED.get(blob_id) is buffer:
                    del _ATTACHED[blob_id]


def _front_door_call(dispatcher: Any, index: int, payload: bytearray) -> Outcome:
    """A call or control call from the front door."""
    if index == CONTROL_STATS:
        stats = {**_stats(dispatcher.sessions), **dispatcher.batcher.stats()}
        return Outcome("OK", reply=json.dumps(stats).encode())
    if index == CONTROL_DIRECT:
        return _open_direct(dispatcher, bytes(payload))
    if index == CONTROL_LEASES:
        left = dispatcher.sessions.seconds_left(json.loads(bytes(payload)))
        return Outcome("OK", reply=json.dumps(left).encode())
    if index < len(METHOD_NAMES):
        # protobuf parses the received buffer as it is: no copy into bytes
        return dispatcher.handle(METHOD_NAMES[index], payload)  # type: ignore[no-any-return]
    return Outcome("UNIMPLEMENTED", f"unknown call {index}")


def _put_chunks(first: bytearray, conn: socket.socket, max_frame: int | None = None) -> Any:
    """The chunks of a PutBlob: the first as a buffer, then a reader per frame that
    receives the chunk's data straight into the upload's buffer. A frame over
    ``max_frame`` bytes ends the connection (ConnectionError)."""
    yield first
    while True:
        (length,) = FRAME_HEADER.unpack(recv_exactly(conn, FRAME_HEADER.size))
        if length == 0:
            return
        if max_frame is not None and length > max_frame:
            raise ConnectionError(f"a blob frame of {length} bytes; at most {max_frame}")
        yield _FrameChunk(conn, length)


class _FrameChunk:
    """One chunk frame of a PutBlob still on the socket (``length`` bytes)."""

    __slots__ = ("conn", "left")

    PREFIX_BYTES = 256
    """Bytes read ahead to find where the chunk's data starts (its small fields)."""

    def __init__(self, conn: socket.socket, length: int) -> None:
        self.conn = conn
        self.left = length

    def _read(self, n: int) -> bytearray:
        data = recv_exactly(self.conn, n)
        self.left -= n
        return data

    def receive(self, upload: Any) -> None:
        """Writes the chunk's data into ``upload`` (``next_view``/``advance``) or, with
        None, drains it; ValueError for a malformed chunk. The whole frame is read
        from the socket whatever happens (ConnectionError when the peer goes)."""
        try:
            if upload is None:
                return
            prefix = self._read(min(self.left, self.PREFIX_BYTES))
            try:
                head = parse_chunk(prefix, prefix=True)
            except ValueError:
                if not self.left:
                    raise
                prefix = prefix + self._read(self.left)  # long fields first: read it all
                head = parse_chunk(prefix)
            if head.data_end <= len(prefix):  # the whole chunk was in the prefix
                upload.write(memoryview(prefix)[head.data_start:head.data_end])
                return
            n = head.data_end - head.data_start
            if head.data_end - len(prefix) > self.left:
                raise ValueError("a BlobChunk field runs past the end of the message")
            target = upload.next_view(n)
            have = len(prefix) - head.data_start
            target[:have] = memoryview(prefix)[head.data_start:]
            recv_into_exactly(self.conn, target[have:])
            self.left -= n - have
            upload.advance(n)
            if self.left:
                parse_chunk(self._read(self.left))  # fields after the data: checked, unused
        finally:
            self._drain()

    def _drain(self) -> None:
        while self.left:
            self._read(min(self.left, 1 << 20))


def _send_blob(conn: socket.socket, dispatcher: Any, request: bytes) -> bool:
    """Answers a GetBlob: the reply, then the blob's chunks as frames; False when the
    connection broke."""
    outcome, frames = dispatcher.get_blob(request)
    try:
        if frames is not None:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)  # capped by the kernel
        send_frames(conn, encode_reply(outcome))
        if frames is not None:
            for head, data in frames:
                conn.sendall(FRAME_HEADER.pack(len(head) + data.nbytes) + head)
                conn.sendall(data)
            conn.sendall(FRAME_HEADER.pack(0))
    except OSError:
        return False
    return True


_DIRECT: list[Any] = []
_DIRECT_LOCK = threading.Lock()


def _end_over_deadline(reason: str) -> None:
    """Ends the process at once, as the front door stops one whose call ran too long (no
    checkpoint: the call may be half done)."""
    sys.stderr.write(f"session process ending itself: {reason}\n")
    sys.stderr.flush()
    os._exit(EXIT_OVER_DEADLINE)


def _open_direct(dispatcher: Any, payload: bytes) -> Outcome:
    """Opens the direct door with the settings in ``payload`` (once: later calls with the
    same owner's token get the same port)."""
    from gentf_server.supervisor.direct import DirectDoor, DirectSettings

    try:
        settings = DirectSettings(**json.loads(payload))
    except (ValueError, TypeError) as exc:
        return Outcome("INVALID_ARGUMENT", f"direct door settings: {exc}")
    with _DIRECT_LOCK:
        if _DIRECT:
            door = _DIRECT[0]
            if door.settings.token_sha256 != settings.token_sha256:
                return Outcome("PERMISSION_DENIED", "this process's direct door serves another owner")
        else:
            try:
                door = DirectDoor(settings, functools.partial(_serve_direct, dispatcher),
                                  _end_over_deadline)
            except (OSError, ssl.SSLError, ValueError) as exc:
                return Outcome("UNAVAILABLE", f"the direct door could not open: {exc}")
            door.start()
            _DIRECT.append(door)
    return Outcome("OK", reply=json.dumps({"port": door.port}).encode())


def _stats(sessions: Any) -> dict[str, int]:
    """Numbers for the front door's metrics: sessions and kept-trace bytes."""
    live = sessions.snapshot()
    return {"sessions": len(live),
            "trace_bytes": sum(s.kept_trace_bytes() for s in live)}


def main(argv: list[str] | None = None) -> int:
    """Runs a session process with the JSON configuration in ``argv[0]``."""
    config = json.loads((argv if argv is not None else sys.argv[1:])[0])
    logging.basicConfig(level=config.get("log_level", "INFO"),
                        format=f"%(asctime)s %(levelname)s session-process[{os.getpid()}] %(name)s: %(message)s")
    threading.Thread(target=_watch_parent, name="gentf-parent-watch", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(
        target=_exit_saving, args=("SIGTERM",), name="gentf-exit").start())
    _limit_memory(int(config.get("memory_mb", 0)))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from gentf_server.core.checkpoints import CheckpointStore
    from gentf_server.core.devices import configure_devices
    from gentf_server.core.dispatch import Dispatcher
    from gentf_server.core.registry import op_registry
    from gentf_server.core.session import session_limits
    from gentf_server.core.sessions import SessionManager

    try:
        configure_devices(config.get("devices", {}))
    except RuntimeError as exc:  # NoGPUError: a GPU was required and there is none
        log.error("%s", exc)
        os._exit(3)
    limits = session_limits(config.get("limits", {}))
    store = None
    if config.get("state_dir"):
        store = CheckpointStore(config["state_dir"], float(config.get("checkpoint_seconds", 30)))
    sessions = SessionManager(op_registry(), default_lease_seconds=config["lease_seconds"],
                              max_sessions=config["max_sessions"], limits=limits, store=store)
    _SESSIONS.append(sessions)
    dispatcher = Dispatcher(sessions, config["max_message_bytes"],
                            config.get("max_reply_bytes"), batching=config.get("batching"))
    sessions.start_reaper()
    sessions.start_checkpointer()

    # TensorFlow's import leaves some 380,000 objects that live as long as the process: kept
    # out of the collector's generations, a full collection (90-100 ms with them here) walks
    # only what the sessions make.
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(config["socket"])
    os.chmod(config["socket"], 0o600)
    listener.listen(64)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while True:
        conn, _ = listener.accept()
        _enlarge_buffers(conn)
        threading.Thread(target=_serve_connection, args=(conn, dispatcher),
                         name="gentf-session-conn", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
