"""Op definitions the client builds nodes from, and their on-disk cache.

The client ships a snapshot of TensorFlow's op registry (``op_registry.binpb.gz``), so it
can build graphs before it talks to any worker. A session connected to a worker whose
registry has another fingerprint (another TensorFlow version or build) calls
:meth:`OpRegistry.ensure`: the worker's registry is loaded from the disk cache when an
earlier run fetched it, else fetched once and written to the cache, so a second start
needs no round trip. The cache lives in ``$GENTF_CACHE_DIR``, else
``$XDG_CACHE_HOME/gentf``, else ``~/.cache/gentf``, one file per fingerprint.
"""

from __future__ import annotations

import gzip
import importlib.resources
import os
import pathlib
import re
import tempfile
import threading
from collections.abc import Callable

from gentf.errors import InvalidArgumentError
from gentf.v1 import graph_pb2, worker_pb2

__all__ = ["OpRegistry", "cache_dir", "registry"]


def cache_dir() -> pathlib.Path:
    """Where fetched registries are cached (the directory may not exist yet)."""
    explicit = os.environ.get("GENTF_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
    return base / "gentf"


def _cache_file(fingerprint: str) -> pathlib.Path:
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", fingerprint)
    return cache_dir() / f"op_registry-{safe}.binpb.gz"


class OpRegistry:
    """Op name -> wire OpDef, loaded lazily from the bundled snapshot.

    ``generation`` increases whenever definitions change, so generated bindings can tell
    that they are stale.
    """

    def __init__(self) -> None:
        self._ops: dict[str, graph_pb2.OpDef] | None = None
        self._tensorflow_version = ""
        self._fingerprint = ""
        self.generation = 0
        self.source = "bundled"
        self._lock = threading.RLock()

    def _load(self) -> dict[str, graph_pb2.OpDef]:
        with self._lock:
            if self._ops is None:
                data = importlib.resources.files("gentf.graph").joinpath("op_registry.binpb.gz").read_bytes()
                reply = worker_pb2.GetOpRegistryResponse()
                reply.ParseFromString(gzip.decompress(data))
                self._ops = {}
                self._install(reply)
            return self._ops

    @property
    def tensorflow_version(self) -> str:
        """TensorFlow version of the loaded definitions."""
        self._load()
        return self._tensorflow_version

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the loaded definitions (as the worker reports it)."""
        self._load()
        return self._fingerprint

    def _install(self, reply: worker_pb2.GetOpRegistryResponse, replace: bool = False) -> None:
        assert self._ops is not None
        if replace:
            self._ops.clear()
        for op in reply.ops:
            self._ops[op.name] = op
        if reply.tensorflow_version:
            self._tensorflow_version = reply.tensorflow_version
            self._fingerprint = reply.registry_fingerprint
        self.generation += 1

    def install(self, reply: worker_pb2.GetOpRegistryResponse, replace: bool = False) -> None:
        """Adds (or replaces) definitions fetched from a worker; ``replace`` drops the others."""
        self._load()
        with self._lock:
            self._install(reply, replace=replace)

    def ensure(self, fingerprint: str,
               fetch: Callable[[], worker_pb2.GetOpRegistryResponse]) -> str:
        """Makes the loaded definitions those of a worker whose registry is ``fingerprint``.

        Nothing happens when they already are; else the disk cache is tried, and only
        then ``fetch()`` is called (one round trip) and its answer cached on disk.
        Returns where the definitions came from: ``"loaded"``, ``"cache"`` or ``"worker"``.
        A cache that cannot be read or written is ignored.
        """
        with self._lock:
            if not fingerprint or fingerprint == self.fingerprint:
                return "loaded"
            path = _cache_file(fingerprint)
            try:
                reply = worker_pb2.GetOpRegistryResponse()
                reply.ParseFromString(gzip.decompress(path.read_bytes()))
                if reply.registry_fingerprint == fingerprint and reply.ops:
                    self._install(reply, replace=True)
                    self.source = "cache"
                    return "cache"
            except (OSError, ValueError, EOFError, gzip.BadGzipFile):
                pass
            reply = fetch()
            self._install(reply, replace=True)
            self.source = "worker"
            self._write_cache(path, reply)
            return "worker"

    @staticmethod
    def _write_cache(path: pathlib.Path, reply: worker_pb2.GetOpRegistryResponse) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = gzip.compress(reply.SerializeToString(deterministic=True), compresslevel=6)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".op_registry-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError:
            pass

    def get(self, name: str) -> graph_pb2.OpDef:
        """The definition of ``name``; InvalidArgumentError if the registry has no such op."""
        op = self._load().get(name)
        if op is None:
            raise InvalidArgumentError(
                f"unknown op {name!r}: TensorFlow {self.tensorflow_version or '(bundled)'} has no such op")
        return op

    def __contains__(self, name: str) -> bool:
        return name in self._load()

    def names(self) -> list[str]:
        """Every op name, sorted."""
        return sorted(self._load())


_REGISTRY = OpRegistry()


def registry() -> OpRegistry:
    """The process-wide client registry."""
    return _REGISTRY
