"""Op fuzzing over the raw wire: random graphs of one allowed op each, sent to a real worker
subprocess with the generated gRPC stubs, and a tally of what came back.

A case is one op with random attributes (types from the op's allowed types, ints, floats
incl. NaN, strings from the allowed values or a small vocabulary, shapes, lists, tensors)
and random inputs (Const nodes or fed placeholders; dtypes from the allowed types; shapes
incl. scalars, empty and odd ones; values incl. NaN, inf, huge and negative; resource inputs
are variables, sometimes of another dtype). It is one ExtendGraph and, when accepted, one
RunOp fetching every output and running the node. Every status must be a precise one (no
INTERNAL, UNKNOWN), every call must answer within its timeout, and the worker must live.
Used by ``test_op_fuzz.py``; runnable alone: ``python tests/worker/op_fuzz.py CASES [OPS...]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
from gentf.v1 import graph_pb2, tensor_pb2, worker_pb2, worker_pb2_grpc
from gentf.wire import DTYPES, fill_tensor

IMPRECISE = {"INTERNAL", "UNKNOWN"}
WIRE_TYPES = {d.enum: d for d in DTYPES.values()
              if d.name not in ("string", "resource", "variant") and not d.name.startswith(("q", "qu"))}
STRING = DTYPES["string"].enum
RESOURCE = DTYPES["resource"].enum
FLOATS = [DTYPES[n].enum for n in ("float32", "float64", "float16", "bfloat16")]
_WORDS = [b"", b"SAME", b"VALID", b"NHWC", b"NCHW", b"NDHWC", b"EXPLICIT", b"REFLECT",
          b"SYMMETRIC", b"CONSTANT", b"ij,jk->ik", b"...i,i->...", b"ab", b"\xff\x00"]


@dataclasses.dataclass
class Tally:
    """What a fuzz run saw."""

    ops: set[str] = dataclasses.field(default_factory=set)
    cases: int = 0
    runs: int = 0
    statuses: dict[str, int] = dataclasses.field(default_factory=dict)
    deaths: list[str] = dataclasses.field(default_factory=list)
    hangs: list[str] = dataclasses.field(default_factory=list)
    imprecise: list[str] = dataclasses.field(default_factory=list)

    def count(self, code: str) -> None:
        """Counts one status."""
        self.statuses[code] = self.statuses.get(code, 0) + 1

    def summary(self) -> str:
        """One line per kind of finding."""
        return (f"{len(self.ops)} ops, {self.cases} cases ({self.runs} reached RunOp), "
                f"{len(self.deaths)} deaths, {len(self.hangs)} hangs, "
                f"{len(self.imprecise)} imprecise; statuses {dict(sorted(self.statuses.items()))}"
                + "".join(f"\n  death {d}" for d in self.deaths)
                + "".join(f"\n  hang {h}" for h in self.hangs)
                + "".join(f"\n  imprecise {i}" for i in self.imprecise[:50]))


class WorkerProcess:
    """``python -m gentf_server --port 0 --port-file F`` with a memory limit, restartable."""

    def __init__(self, memory_bytes: int = 8 << 30) -> None:
        self.memory_bytes = memory_bytes
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None
        self.stub: Any = None
        self._log: Any = None
        self.address = ""
        self._dir = tempfile.TemporaryDirectory(prefix="gentf-fuzz-")

    def start(self) -> None:
        """Starts the worker and waits for its port (at most 120 s)."""
        port_file = pathlib.Path(self._dir.name) / "port"
        port_file.unlink(missing_ok=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        self._log = open(pathlib.Path(self._dir.name) / "stderr", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gentf_server", "--port", "0", "--port-file", str(port_file),
             "--log-level", "ERROR", "--threads", "4"],
            env=env, stdout=subprocess.DEVNULL, stderr=self._log)
        # Out of memory is then an allocation failure, not the machine's OOM killer (set
        # while TensorFlow is still importing, long before the first call).
        resource.prlimit(self.proc.pid, resource.RLIMIT_AS, (self.memory_bytes,) * 2)
        deadline = time.monotonic() + 120
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {self.stderr_tail()}")
            time.sleep(0.05)
        cap = 64 << 20
        self.address = f"127.0.0.1:{port_file.read_text()}"
        self.channel = grpc.insecure_channel(
            self.address,
            options=[("grpc.max_receive_message_length", cap),
                     ("grpc.max_send_message_length", cap)])
        self.stub = worker_pb2_grpc.WorkerStub(self.channel)

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self) -> str:
        """The last lines the worker wrote to stderr (after it exited)."""
        if self.proc is None or self.proc.poll() is None:
            return ""
        path = pathlib.Path(self._dir.name) / "stderr"
        return path.read_bytes().decode(errors="replace")[-600:] if path.exists() else ""

    def stop(self) -> None:
        """Stops the worker (SIGKILL after 5 s)."""
        if self.channel is not None:
            self.channel.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()

    def restart(self) -> None:
        """Stops and starts again."""
        self.stop()
        self.start()


@contextlib.contextmanager
def worker_process(memory_bytes: int = 8 << 30) -> Iterator[WorkerProcess]:
    """A started :class:`WorkerProcess` for the block."""
    worker = WorkerProcess(memory_bytes)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        worker._dir.cleanup()


# ---- random values -------------------------------------------------------------------------


def random_shape(rng: np.random.Generator) -> list[int]:
    """Rank 0-4, dims 0-5 (empty, one, odd sizes)."""
    return [int(rng.choice([0, 1, 1, 2, 3, 3, 5])) for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3, 4])))]


def random_array(rng: np.random.Generator, enum: int, shape: list[int]) -> np.ndarray:
    """Values of wire dtype ``enum``: mostly small, sometimes NaN, inf, huge, negative."""
    npd = np.dtype(WIRE_TYPES[enum].as_numpy_dtype)
    n = int(np.prod(shape)) if shape else 1
    if npd == np.bool_:
        return rng.random(n).reshape(shape) < 0.5
    if np.issubdtype(npd, np.integer):
        info = np.iinfo(npd)
        pool = np.array([0, 1, 2, 3, -1, -2, 4, 5, info.max, info.min], dtype=np.int64)
        pick = rng.integers(0, 7 if rng.random() < 0.8 else len(pool), size=n)
        values = np.clip(pool[pick], info.min, info.max)
        return values.astype(npd).reshape(shape)
    special = np.array([0.0, -1.0, 1.5, np.nan, np.inf, -np.inf, 1e30, -1e30, 1e-30])
    values = rng.normal(size=n) * 3
    mask = rng.random(n) < 0.15
    values[mask] = rng.choice(special, size=int(mask.sum()))
    if np.issubdtype(npd, np.complexfloating):
        values = values + 1j * rng.normal(size=n)
    with np.errstate(over="ignore", invalid="ignore"):
        return values.astype(npd).reshape(shape)


# ---- cases -----------------------------------------------------------------------------------


class CaseBuilder:
    """Builds the nodes of one random case of ``op`` (a wire OpDef)."""

    def __init__(self, op: graph_pb2.OpDef, rng: np.random.Generator, prefix: str) -> None:
        self.op = op
        self.rng = rng
        self.prefix = prefix
        self.nodes: list[graph_pb2.NodeDef] = []
        self.feeds: dict[str, tensor_pb2.Tensor] = {}
        self.attrs: dict[str, graph_pb2.AttrValue] = {}
        self.base_shape = random_shape(rng)  # most inputs share it: more cases reach RunOp

    def _allowed_types(self, attr: graph_pb2.AttrDef) -> list[int]:
        types = list(attr.allowed_values.list.type) if attr.HasField("allowed_values") else []
        if not types:
            types = list(WIRE_TYPES) + [STRING]
        return [int(t) for t in types]

    def _random_attr(self, attr: graph_pb2.AttrDef) -> graph_pb2.AttrValue | None:
        rng = self.rng
        value = graph_pb2.AttrValue()
        if attr.HasField("default_value") and rng.random() < 0.7:
            return None  # leave it to the default
        kind = attr.type
        if kind == "type":
            value.type = int(rng.choice(self._allowed_types(attr)))
        elif kind == "int":
            low = attr.minimum if attr.has_minimum else -1
            value.i = int(rng.choice([low, low + 1, low + 2, low + 3, -1, 0, 1, 2, 1 << 31]))
        elif kind == "float":
            value.f = float(rng.choice([0.0, 0.5, 1.0, -1.0, 2.0, np.nan, np.inf, 1e30]))
        elif kind == "bool":
            value.b = bool(rng.random() < 0.5)
        elif kind == "string":
            allowed = list(attr.allowed_values.list.s) if attr.HasField("allowed_values") else []
            value.s = bytes(rng.choice(allowed or _WORDS)) if allowed or rng.random() < 0.9 else b"x"
        elif kind == "shape":
            shape = random_shape(rng)
            value.shape.dims.extend(shape if rng.random() < 0.8 else [-1] + shape)
        elif kind == "list(int)":
            value.list.i.extend(int(x) for x in rng.integers(-1, 5, size=int(rng.integers(0, 6))))
            value.list.SetInParent()
        elif kind == "list(float)":
            value.list.f.extend(float(x) for x in rng.normal(size=int(rng.integers(0, 4))))
            value.list.SetInParent()
        elif kind == "list(type)":
            types = self._allowed_types(attr)
            value.list.type.extend(int(rng.choice(types)) for _ in range(int(rng.integers(1, 4))))
        elif kind == "list(string)":
            value.list.s.extend(bytes(rng.choice(_WORDS)) for _ in range(int(rng.integers(0, 3))))
            value.list.SetInParent()
        elif kind == "list(shape)":
            for _ in range(int(rng.integers(0, 3))):
                value.list.shape.add().dims.extend(random_shape(rng))
            value.list.SetInParent()
        elif kind == "tensor":
            enum = int(rng.choice(list(WIRE_TYPES)))
            fill_tensor(value.tensor, random_array(rng, enum, random_shape(rng)))
        else:
            return None
        return value

    def _input_type(self, arg: graph_pb2.ArgDef, index: int) -> int | None:
        if arg.type:
            return int(arg.type)
        if arg.type_attr:
            a = self.attrs.get(arg.type_attr)
            return int(a.type) if a is not None else None
        if arg.type_list_attr:
            a = self.attrs.get(arg.type_list_attr)
            return int(a.list.type[index]) if a is not None and index < len(a.list.type) else None
        return None

    def _make_input(self, enum: int | None, k: int) -> str:
        rng = self.rng
        name = f"{self.prefix}/in{k}"
        if enum is None:
            enum = int(rng.choice(list(WIRE_TYPES)))
        if enum == RESOURCE:
            var_type = int(rng.choice(FLOATS[:2] + [DTYPES["int32"].enum]))
            node = graph_pb2.NodeDef(name=name, op="VarHandleOp")
            node.attrs["dtype"].type = var_type
            shape = random_shape(rng)
            node.attrs["shape"].shape.dims.extend(shape)
            node.attrs["shared_name"].s = name.encode()
            fill_tensor(node.initial_value, random_array(rng, var_type, shape))
            self.nodes.append(node)
            return name
        if enum == STRING:
            value = np.array([b"a", b"", b"\xff"][: int(rng.integers(0, 4))], dtype=object)
            node = graph_pb2.NodeDef(name=name, op="Const")
            node.attrs["dtype"].type = enum
            fill_tensor(node.attrs["value"].tensor, value)
            self.nodes.append(node)
            return name
        if enum not in WIRE_TYPES:
            enum = int(rng.choice(list(WIRE_TYPES)))  # a kind the wire cannot carry: any other
        shape = self.base_shape if rng.random() < 0.6 else random_shape(rng)
        value = random_array(rng, enum, shape)
        if rng.random() < 0.3 and not np.issubdtype(value.dtype, np.integer):
            node = graph_pb2.NodeDef(name=name, op="Placeholder")
            node.attrs["dtype"].type = enum
            if rng.random() < 0.5:
                node.attrs["shape"].shape.unknown_rank = True
            else:
                node.attrs["shape"].shape.dims.extend([-1] * value.ndim)
            fill_tensor(self.feeds.setdefault(name, tensor_pb2.Tensor()), value)
        else:
            node = graph_pb2.NodeDef(name=name, op="Const")
            node.attrs["dtype"].type = enum
            fill_tensor(node.attrs["value"].tensor, value)
        self.nodes.append(node)
        return name

    def build(self) -> graph_pb2.NodeDef:
        """The case's op node (its inputs are in ``nodes`` before it)."""
        op = self.op
        number_attrs = {a.number_attr for a in op.inputs if a.number_attr}
        for attr in op.attrs:
            if attr.name in number_attrs:
                value = graph_pb2.AttrValue(i=int(self.rng.choice([1, 2, 3, 0])))
            else:
                value = self._random_attr(attr)
            if value is not None:
                self.attrs[attr.name] = value
        node = graph_pb2.NodeDef(name=f"{self.prefix}/op", op=op.name)
        k = 0
        for arg in op.inputs:
            if arg.number_attr:
                count = int(self.attrs[arg.number_attr].i) if arg.number_attr in self.attrs else 1
            elif arg.type_list_attr:
                a = self.attrs.get(arg.type_list_attr)
                count = len(a.list.type) if a is not None else 1
            else:
                count = 1
            for i in range(min(count, 4)):
                node.inputs.append(self._make_input(self._input_type(arg, i), k))
                k += 1
        for key, value in self.attrs.items():
            node.attrs[key].CopyFrom(value)
        self.nodes.append(node)
        return node


def _code(exc: grpc.RpcError) -> str:
    return exc.code().name  # type: ignore[no-any-return]


def fuzz_op(worker: WorkerProcess, op: graph_pb2.OpDef, cases: int, seed: int, tally: Tally,
            timeout: float = 30.0) -> None:
    """Runs ``cases`` random cases of ``op`` in one session; records findings in ``tally``
    and restarts the worker after a death or hang."""
    rng = np.random.default_rng([seed, zlib.crc32(op.name.encode())])
    tally.ops.add(op.name)
    stub = worker.stub
    session = stub.CreateSession(worker_pb2.CreateSessionRequest(), timeout=timeout).session_id
    for case in range(cases):
        where = f"{op.name} case {case} (seed {seed})"
        builder = CaseBuilder(op, rng, f"c{case}")
        try:
            node = builder.build()
        except (ValueError, TypeError, OverflowError):
            continue
        tally.cases += 1
        request = worker_pb2.ExtendGraphRequest(session_id=session, nodes=builder.nodes)
        stage = "ExtendGraph"
        try:
            reply = stub.ExtendGraph(request, timeout=timeout)
            tally.count("OK")
            infos = {n.name: n for n in reply.nodes}
            fetches = [f"{node.name}:{i}" for i, o in enumerate(infos[node.name].outputs)
                       if o.dtype not in (RESOURCE, DTYPES["variant"].enum)]
            run = worker_pb2.RunOpRequest(session_id=session, fetches=fetches,
                                          targets=[node.name])
            for name, value in builder.feeds.items():
                run.feeds[name].CopyFrom(value)
            stage = "RunOp"
            tally.runs += 1
            stub.RunOp(run, timeout=timeout)
            tally.count("OK")
        except grpc.RpcError as exc:
            code = _code(exc)
            tally.count(code)
            if code == "DEADLINE_EXCEEDED":
                tally.hangs.append(f"{where}: {stage} took over {timeout:.0f} s")
                worker.restart()
                return
            if code == "ABORTED":  # the session process died (the worker contained it)
                tally.deaths.append(f"{where}: {stage}: {exc.details()[:200]}")
                return
            if code == "UNAVAILABLE" or not worker.alive():
                tally.deaths.append(f"{where}: {stage}: {worker.stderr_tail()[-300:]!r}")
                worker.restart()
                return
            if code in IMPRECISE:
                tally.imprecise.append(f"{where}: {stage} {code}: {exc.details()[:200]}")
    if not worker.alive():
        tally.deaths.append(f"{op.name} (after its cases, seed {seed})")
        worker.restart()
        return
    stub.CloseSession(worker_pb2.CloseSessionRequest(session_id=session), timeout=timeout)


def allowed_ops(worker: WorkerProcess) -> list[graph_pb2.OpDef]:
    """The worker's allowed ops (its registry minus the refused), sorted by name."""
    reply = worker.stub.GetOpRegistry(worker_pb2.GetOpRegistryRequest(), timeout=60)
    return sorted((op for op in reply.ops if not op.refused), key=lambda o: o.name)


def run(cases: int, seed: int = 0, names: list[str] | None = None,
        budget_seconds: float | None = None) -> Tally:
    """Fuzzes every allowed op (or ``names``) with ``cases`` cases each."""
    tally = Tally()
    start = time.monotonic()
    with worker_process() as worker:
        ops = allowed_ops(worker)
        if names:
            ops = [o for o in ops if o.name in names]
        for op in ops:
            if budget_seconds is not None and time.monotonic() - start > budget_seconds:
                break
            fuzz_op(worker, op, cases, seed, tally)
    return tally


if __name__ == "__main__":
    t0 = time.monotonic()
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 4, int(os.environ.get("SEED", "0")),
                 sys.argv[2:] or None)
    print(result.summary())
    print(f"{time.monotonic() - t0:.0f} s")
