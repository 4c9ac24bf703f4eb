"""Op definitions the client builds nodes from.

The client ships a snapshot of TensorFlow's op registry (``op_registry.binpb.gz``), so it
can build graphs before it talks to any worker. A session connected to a worker whose
registry differs installs that worker's definitions (``OpRegistry.install``).
"""

from __future__ import annotations

import gzip
import importlib.resources
import threading

from gentf.errors import InvalidArgumentError
from gentf.v1 import graph_pb2, worker_pb2

__all__ = ["OpRegistry", "registry"]


class OpRegistry:
    """Op name -> wire OpDef, loaded lazily from the bundled snapshot."""

    def __init__(self) -> None:
        self._ops: dict[str, graph_pb2.OpDef] | None = None
        self.tensorflow_version = ""
        self.fingerprint = ""
        self._lock = threading.Lock()

    def _load(self) -> dict[str, graph_pb2.OpDef]:
        with self._lock:
            if self._ops is None:
                data = importlib.resources.files("gentf.graph").joinpath("op_registry.binpb.gz").read_bytes()
                reply = worker_pb2.GetOpRegistryResponse()
                reply.ParseFromString(gzip.decompress(data))
                self._ops = {}
                self._install(reply)
            return self._ops

    def _install(self, reply: worker_pb2.GetOpRegistryResponse) -> None:
        assert self._ops is not None
        for op in reply.ops:
            self._ops[op.name] = op
        if reply.tensorflow_version:
            self.tensorflow_version = reply.tensorflow_version
            self.fingerprint = reply.registry_fingerprint

    def install(self, reply: worker_pb2.GetOpRegistryResponse) -> None:
        """Adds (or replaces) definitions fetched from a worker."""
        self._load()
        with self._lock:
            self._install(reply)

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
