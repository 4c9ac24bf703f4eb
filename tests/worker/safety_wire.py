"""Raw-wire helpers for the worker safety tests: a stub on a worker, nodes, statuses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
from gentf.v1 import graph_pb2, tensor_pb2, worker_pb2, worker_pb2_grpc
from gentf.wire import DTYPES, decode_tensor, fill_tensor

F32 = DTYPES["float32"].enum
F64 = DTYPES["float64"].enum
I32 = DTYPES["int32"].enum
STRING = DTYPES["string"].enum


class Raw:
    """Calls a worker's methods with raw ``gentf.v1`` messages over real gRPC."""

    def __init__(self, address: str, max_message_bytes: int = 256 << 20) -> None:
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes)])
        self.stub = worker_pb2_grpc.WorkerStub(self.channel)

    def __call__(self, method: str, request: Any, timeout: float = 60.0) -> Any:
        """The reply; raises grpc.RpcError."""
        return getattr(self.stub, method)(request, timeout=timeout)

    def status(self, method: str, request: Any, timeout: float = 60.0) -> tuple[str, str]:
        """(status name, details) of one call ("OK", "" on success)."""
        try:
            self(method, request, timeout)
        except grpc.RpcError as exc:
            return exc.code().name, exc.details()
        return "OK", ""

    def raw_status(self, method: str, payload: bytes, timeout: float = 30.0) -> str:
        """Status name of a call whose request is ``payload`` as is."""
        call = self.channel.unary_unary(f"/gentf.v1.Worker/{method}")
        try:
            call(payload, timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code().name  # type: ignore[no-any-return]
        return "OK"

    def session(self, lease: float = 0.0) -> str:
        """A new session's id."""
        return self("CreateSession", worker_pb2.CreateSessionRequest(lease_seconds=lease)).session_id

    def extend(self, session: str, *nodes: graph_pb2.NodeDef) -> Any:
        """ExtendGraph with ``nodes``."""
        return self("ExtendGraph", worker_pb2.ExtendGraphRequest(session_id=session, nodes=nodes))

    def run(self, session: str, fetches: list[str] = [], targets: list[str] = [],  # noqa: B006
            feeds: dict[str, Any] | None = None) -> list[np.ndarray]:
        """RunOp; the fetched values."""
        request = worker_pb2.RunOpRequest(session_id=session, fetches=fetches, targets=targets)
        for name, value in (feeds or {}).items():
            fill_tensor(request.feeds[name], value)
        return [decode_tensor(t) for t in self("RunOp", request).fetched]

    def close(self, session: str) -> None:
        """CloseSession."""
        self("CloseSession", worker_pb2.CloseSessionRequest(session_id=session))


@contextlib.contextmanager
def raw(address: str, max_message_bytes: int = 256 << 20) -> Iterator[Raw]:
    """A :class:`Raw` for the block."""
    r = Raw(address, max_message_bytes)
    try:
        yield r
    finally:
        r.channel.close()


def node(name: str, op: str, inputs: list[str] = [], **attrs: Any) -> graph_pb2.NodeDef:  # noqa: B006
    """A NodeDef; attrs: ints for types named T*/dtype/out_type/..., else by Python type
    (bool, int, float, bytes/str, list of ints, numpy array as a tensor)."""
    out = graph_pb2.NodeDef(name=name, op=op, inputs=inputs)
    for key, value in attrs.items():
        a = out.attrs[key]
        if key.startswith("T") or key in ("dtype", "index_type", "Index", "out_type", "DstT",
                                          "SrcT"):
            a.type = value
        elif isinstance(value, bool):
            a.b = value
        elif isinstance(value, int):
            a.i = value
        elif isinstance(value, float):
            a.f = value
        elif isinstance(value, (bytes, str)):
            a.s = value.encode() if isinstance(value, str) else value
        elif isinstance(value, np.ndarray):
            fill_tensor(a.tensor, value)
        elif isinstance(value, list):
            a.list.i.extend(value)
            a.list.SetInParent()
        else:
            raise TypeError(f"attr {key}: {value!r}")
    return out


def const(name: str, value: Any) -> graph_pb2.NodeDef:
    """A Const node holding ``value``."""
    arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if arr.dtype.kind in "SO":
        arr = np.asarray(value, dtype=object)
    out = graph_pb2.NodeDef(name=name, op="Const")
    tensor = tensor_pb2.Tensor()
    fill_tensor(tensor, arr)
    out.attrs["dtype"].type = tensor.dtype
    out.attrs["value"].tensor.CopyFrom(tensor)
    return out


def variable(name: str, value: np.ndarray) -> graph_pb2.NodeDef:
    """A VarHandleOp node with its initial value."""
    out = graph_pb2.NodeDef(name=name, op="VarHandleOp")
    tensor = tensor_pb2.Tensor()
    fill_tensor(tensor, value)
    out.attrs["dtype"].type = tensor.dtype
    out.attrs["shape"].shape.dims.extend(value.shape)
    out.attrs["shared_name"].s = name.encode()
    out.initial_value.CopyFrom(tensor)
    return out
