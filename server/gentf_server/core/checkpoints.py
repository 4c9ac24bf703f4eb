"""Durable named sessions: TensorFlow checkpoints under ``--state-dir``.

Layout of one name (``DIR/<name>/``)::

    checkpoint              TensorFlow's state file: tf.train.latest_checkpoint reads it
    ckpt-7.index            a TensorFlow V2 checkpoint (SaveV2), keyed by the graph's
    ckpt-7.data-00000-of-00001   variable node names, as tf.compat.v1.train.Saver writes
    ckpt-7.gentf.json       gentf's record: owner (a digest), applied request ids, variables
    .lock                   flock(2)-ed by the one process that holds the name open

A checkpoint is committed when its ``.gentf.json`` is renamed into place (written after
the data files were written and fsync-ed); the ``checkpoint`` state file is updated after.
A crash at any point leaves the previous committed checkpoint usable. The last two are
kept. Loading takes the newest committed checkpoint that reads back whole; one that does
not (corrupt, partial) is skipped with a warning.

Names match ``[A-Za-z0-9._-]{1,64}`` (and are not ``.`` or ``..``): nothing else reaches the
file system.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from gentf_server.core import errors
from gentf_server.statedir import check_state_dir

__all__ = ["NAME_PATTERN", "AppliedIds", "CheckpointStore", "NamedState", "check_name",
           "check_restore", "check_state_dir", "owner_digest"]

log = logging.getLogger("gentf_server.checkpoints")

NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""What a session name may be."""

KEEP = 2
"""Committed checkpoints kept per name."""

_META = re.compile(r"ckpt-(\d+)\.gentf\.json")


def check_name(name: str) -> None:
    """InvalidArgument unless ``name`` matches ``[A-Za-z0-9._-]{1,64}`` (and is not . or ..)."""
    if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise errors.InvalidArgument(
            f"session name {name!r} is not valid: use 1 to 64 of A-Z a-z 0-9 . _ - "
            f"(not '.' or '..')")


def owner_digest(owner: str) -> str:
    """What a checkpoint stores of its owner: a SHA-256 digest, never the owner itself."""
    return hashlib.sha256(owner.encode()).hexdigest()


class AppliedIds:
    """The request ids a session applied most recently (at most ``capacity``). Thread-safe."""

    def __init__(self, ids: Iterable[int] = (), capacity: int = 4096) -> None:
        self._order: collections.deque[int] = collections.deque(maxlen=capacity)
        self._set: set[int] = set()
        self._lock = threading.Lock()
        for i in ids:
            self.add(i)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._set

    def add(self, request_id: int) -> None:
        """Records ``request_id`` (0 is ignored)."""
        if not request_id:
            return
        with self._lock:
            if request_id in self._set:
                return
            if len(self._order) == self._order.maxlen:
                self._set.discard(self._order[0])
            self._order.append(request_id)
            self._set.add(request_id)

    def to_list(self) -> list[int]:
        """The ids, oldest first."""
        with self._lock:
            return list(self._order)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class NamedState:
    """One open name: its directory (locked), owner, pending restore values and saves.

    ``pending`` maps variable names to checkpointed values not yet given to a variable (a
    variable of that name created later takes its value from here).
    """

    def __init__(self, directory: str, name: str, owner: str, lock_fd: int) -> None:
        self.directory = directory
        self.name = name
        self.owner = owner_digest(owner)
        self._lock_fd = lock_fd
        self.pending: dict[str, np.ndarray[Any, Any]] = {}
        self.restored_from = ""
        self.saved_changes = -1
        """The session's change count at its last save (-1: never saved)."""
        self.last_save = time.monotonic()
        self.applied = AppliedIds()
        """Request ids applied before the checkpoint restored from."""
        self._save_lock = threading.Lock()

    # ---- reading -------------------------------------------------------------------

    def committed(self) -> list[int]:
        """Numbers of the committed checkpoints, newest first."""
        numbers = []
        for entry in os.listdir(self.directory):
            m = _META.fullmatch(entry)
            if m:
                numbers.append(int(m.group(1)))
        return sorted(numbers, reverse=True)

    def prefix(self, number: int) -> str:
        """The path prefix of checkpoint ``number``."""
        return os.path.join(self.directory, f"ckpt-{number}")

    def load(self, number: int) -> tuple[dict[str, np.ndarray[Any, Any]], dict[str, Any]]:
        """``(values, record)`` of checkpoint ``number``; raises on any damage."""
        prefix = self.prefix(number)
        with open(prefix + ".gentf.json") as f:
            record = json.load(f)
        reader = tf.train.load_checkpoint(prefix)
        values = {}
        for name, spec in record["variables"].items():
            value = reader.get_tensor(name)
            value = np.asarray(value)
            if list(value.shape) != spec["shape"] or value.dtype.name != spec["dtype"]:
                raise ValueError(f"variable {name!r} reads back as {value.dtype}{list(value.shape)}")
            values[name] = value
        return values, record

    def latest(self) -> tuple[str, dict[str, np.ndarray[Any, Any]], dict[str, Any]] | None:
        """The newest checkpoint that reads back whole: ``(prefix, values, record)``; a
        damaged one is skipped with a warning. None when there is none."""
        for number in self.committed():
            try:
                values, record = self.load(number)
            except Exception as exc:  # noqa: BLE001 - any damage means: use the previous one
                log.warning("session %s: checkpoint %s is unusable, skipped (%s: %s)", self.name,
                            self.prefix(number), type(exc).__name__, exc)
                continue
            return self.prefix(number), values, record
        return None

    # ---- writing -------------------------------------------------------------------

    def save(self, values: dict[str, Any], applied: Sequence[int], changes: int) -> str:
        """Writes a checkpoint of ``values`` (variable name -> tensor), committed atomically;
        keeps the last two. Returns its prefix."""
        with self._save_lock:
            existing = self.committed()
            number = (existing[0] if existing else 0) + 1
            prefix = self.prefix(number)
            names = sorted(values)
            if names:
                tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                                  shape_and_slices=[""] * len(names),
                                  tensors=[values[n] for n in names])
            else:  # TensorFlow cannot write an empty bundle: one marker keeps it readable
                tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["_gentf_empty"],
                                  shape_and_slices=[""], tensors=[tf.constant(0)])
            for entry in os.listdir(self.directory):
                if entry.startswith(f"ckpt-{number}.") and not entry.endswith(".json"):
                    _fsync(os.path.join(self.directory, entry))
            record = {
                "format": 1, "name": self.name, "owner": self.owner, "time": time.time(),
                "applied_request_ids": list(applied),
                "variables": {n: {"dtype": np.dtype(values[n].dtype.as_numpy_dtype).name,
                                  "shape": [int(d) for d in values[n].shape]} for n in names},
            }
            _write_atomic(prefix + ".gentf.json", json.dumps(record))
            kept = [number, *existing][:KEEP]
            _write_atomic(os.path.join(self.directory, "checkpoint"),
                          f'model_checkpoint_path: "ckpt-{number}"\n'
                          + "".join(f'all_model_checkpoint_paths: "ckpt-{n}"\n'
                                    for n in reversed(kept)))
            for old in existing[KEEP - 1:]:
                self._remove(old)
            self.saved_changes = changes
            self.last_save = time.monotonic()
            return prefix

    def _remove(self, number: int) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.prefix(number) + ".gentf.json")  # uncommit first
        for entry in os.listdir(self.directory):
            if entry.startswith(f"ckpt-{number}."):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.directory, entry))

    def delete(self) -> None:
        """Removes every checkpoint of the name and its directory."""
        with self._save_lock:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.saved_changes = 1 << 62  # nothing left to save

    def release(self) -> None:
        """Lets go of the name's lock (another process may open it)."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


class CheckpointStore:
    """The state directory of a worker: opens names for sessions (owner checked, locked)."""

    def __init__(self, root: str, every_seconds: float = 30.0) -> None:
        self.root = root
        self.every_seconds = every_seconds

    def open(self, name: str, owner: str) -> NamedState:
        """Opens ``name`` for ``owner``: InvalidArgument for a bad name, PermissionDenied when
        another owner's checkpoint holds it, FailedPrecondition while another process holds
        it. Loads the latest usable checkpoint into ``pending``."""
        check_name(name)
        directory = os.path.join(self.root, name)
        os.makedirs(directory, exist_ok=True)
        fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise errors.FailedPrecondition(
                f"session name {name!r} is in use by another session or worker") from None
        state = NamedState(directory, name, owner, fd)
        try:
            found = state.latest()
            if found is not None:
                prefix, values, record = found
                if record.get("owner") != state.owner:
                    raise errors.PermissionDenied(
                        f"session name {name!r} belongs to another owner")
                state.pending = values
                state.restored_from = prefix
                state.applied = AppliedIds(record.get("applied_request_ids", ()))
                log.info("session %s: restoring from %s (%d variables)", name, prefix,
                         len(values))
            else:
                owners = self._owner_of_damaged(state)
                if owners is not None and owners != state.owner:
                    raise errors.PermissionDenied(
                        f"session name {name!r} belongs to another owner")
        except BaseException:
            state.release()
            raise
        return state

    def _owner_of_damaged(self, state: NamedState) -> str | None:
        for number in state.committed():
            with contextlib.suppress(OSError, ValueError, KeyError), \
                    open(state.prefix(number) + ".gentf.json") as f:
                return str(json.load(f)["owner"])
        return None


def check_restore(new_variables: Iterable[tuple[str, tf.DType, tf.TensorShape]],
                  pending: dict[str, np.ndarray[Any, Any]]) -> None:
    """FailedPrecondition naming the first variable whose checkpointed value does not fit
    its node's dtype and shape (checked before anything is created or set)."""
    for name, dtype, shape in new_variables:
        value = pending.get(name)
        if value is None:
            continue
        want = dtype.as_numpy_dtype if dtype != tf.string else object
        if np.dtype(want) != value.dtype or not shape.is_compatible_with(value.shape):
            raise errors.FailedPrecondition(
                f"variable {name!r} is {dtype.name}{shape.as_list() if shape.rank is not None else '?'} "
                f"in the graph but {value.dtype.name}{list(value.shape)} in the session's "
                f"checkpoint: the graph no longer matches it; nothing was restored "
                f"(delete the checkpoint with sess.delete() or use another name)")
