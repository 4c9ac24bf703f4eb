"""Worker safety (issue 7, the core half): one test per finding, over real gRPC.

Each test asserts the status (and that the message names the limit or the culprit) and that
the worker and another session are alive and unchanged afterwards.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gentf.v1 import worker_pb2
from gentf.wire import fill_tensor
from safety_wire import F32, F64, I32, Raw, const, node, raw, variable


class Bystander:
    """Another session on the same worker, with a variable, checked after each finding."""

    def __init__(self, r: Raw) -> None:
        self.r = r
        self.session = r.session()
        self.value = np.arange(6.0).reshape(2, 3)
        r.extend(self.session, variable("bv", self.value), node("bread", "ReadVariableOp", ["bv"], dtype=F64))

    def assert_unchanged(self) -> None:
        (got,) = self.r.run(self.session, ["bread:0"])
        np.testing.assert_array_equal(got, self.value)


@pytest.fixture
def r(worker: Any) -> Iterator[Raw]:
    with raw(worker.address, 64 << 20) as client:
        yield client


@pytest.fixture
def bystander(r: Raw) -> Iterator[Bystander]:
    b = Bystander(r)
    yield b
    b.assert_unchanged()
    r.close(b.session)


@contextlib.contextmanager
def _limited_worker(limits: Any = None, max_message_bytes: int = 64 << 20,
                    max_reply_bytes: int | None = None) -> Iterator[Any]:
    """A real worker (front door, in-process sessions) over a core with the given limits."""
    import dataclasses

    from gentf_server.service.server import WorkerConfig, background_server

    config = WorkerConfig(port=0, isolation="none", max_message_bytes=max_message_bytes,
                          max_reply_bytes=max_reply_bytes,
                          limits=dataclasses.asdict(limits) if limits is not None else {})
    with background_server(config) as server, raw(server.address, 256 << 20) as client:
        client.sessions = server.sessions  # type: ignore[attr-defined]
        yield client


# ---- the allow-list ------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", [
    [node("x", "XlaReplicaId")],
    [const("a", np.float32(1)), const("b", np.int32(1)),
     node("x", "XlaSparseGradientsStack", ["a", "b"])],
    [const("t", np.array([1], np.int64)),
     node("x", "FixedUnigramCandidateSampler", ["t"], vocab_file="/etc/passwd", num_true=1,
          num_sampled=1, unique=True, range_max=3)],
    [node("x", "ThreadPoolHandle", num_threads=2000, display_name="p")],
    [node("x", "ReadFile", ["nowhere"], colour="blue")],  # refused whatever its attrs
    [node("x", "MutexV2", shared_name="m")],
    [node("x", "FIFOQueueV2", component_types=[1])],
    [node("x", "StatelessIf")],
], ids=["XlaReplicaId", "XlaSparseGradientsStack", "vocab_file", "ThreadPoolHandle", "ReadFile",
        "Mutex", "Queue", "StatelessIf"])
def test_ops_off_the_allow_list_are_permission_denied(r, bystander, nodes):
    s = r.session()
    code, details = r.status("ExtendGraph", worker_pb2.ExtendGraphRequest(session_id=s, nodes=nodes))
    assert code == "PERMISSION_DENIED", details
    assert nodes[-1].op in details and "allow-list" in details
    assert r.extend(s, const("a", np.float32(1))).nodes[0].name == "a"  # nothing else was added
    r.close(s)


def test_registry_marks_refused_ops(r):
    from gentf_server.core.allowlist import ALLOWED

    reply = r("GetOpRegistry", worker_pb2.GetOpRegistryRequest())
    refused = {op.name for op in reply.ops if op.refused}
    accepted = {op.name for op in reply.ops if not op.refused}
    assert accepted == ALLOWED
    for name in ("XlaReplicaId", "ReadFile", "ThreadPoolHandle", "FixedUnigramCandidateSampler",
                 "QueueDequeueV2", "Unstage", "ImmutableConst", "DestroyResourceOp"):
        assert name in refused
    for name in ("MatMul", "ResourceApplyAdam", "ScalarSummary", "MergeSummary", "DynamicStitch",
                 "StatelessRandomUniformV2", "RandomUniform", "NoOp", "Identity", "Empty"):
        assert name in accepted


def test_strided_slice_assign_with_another_dtype_is_rejected_before_running(r, bystander):
    s = r.session()
    r.extend(s, variable("v", np.zeros(4, np.float32)))
    nodes = [const("begin", np.array([0], np.int32)), const("end", np.array([2], np.int32)),
             const("strides", np.array([1], np.int32)), const("val", np.array([1.0, 2.0])),
             node("assign", "ResourceStridedSliceAssign", ["v", "begin", "end", "strides", "val"],
                  T=F64, Index=I32)]
    code, details = r.status("ExtendGraph", worker_pb2.ExtendGraphRequest(session_id=s, nodes=nodes))
    assert code == "INVALID_ARGUMENT" and "float64" in details and "float32" in details
    # with the right dtype it runs
    nodes[3] = const("val", np.array([1.0, 2.0], np.float32))
    nodes[4].attrs["T"].type = F32
    r.extend(s, *nodes, node("read", "ReadVariableOp", ["v"], dtype=F32))
    r.run(s, targets=["assign"])
    np.testing.assert_array_equal(r.run(s, ["read:0"])[0], [1, 2, 0, 0])
    r.close(s)


def test_transpose_with_a_scalar_perm_is_rejected_before_running(r, bystander):
    # found by the op fuzz test: the kernel CHECK-fails (the process aborts)
    s = r.session()
    nodes = [node("x", "Placeholder", dtype=F32), const("perm", np.int32(0)),
             node("t", "Transpose", ["x", "perm"], T=F32, Tperm=I32)]
    code, details = r.status("ExtendGraph", worker_pb2.ExtendGraphRequest(session_id=s, nodes=nodes))
    assert code == "INVALID_ARGUMENT" and "rank 1" in details, details
    nodes[1] = const("perm", np.array([1, 0], np.int32))
    r.extend(s, *nodes)
    got = r.run(s, ["t:0"], feeds={"x": np.arange(6, dtype=np.float32).reshape(2, 3)})[0]
    np.testing.assert_array_equal(got, np.arange(6).reshape(2, 3).T)
    r.close(s)


def test_resource_inputs_must_be_variables(r, bystander):
    s = r.session()
    nodes = [node("h", "Placeholder", dtype=20)]
    code, details = r.status("ExtendGraph", worker_pb2.ExtendGraphRequest(session_id=s, nodes=nodes))
    assert code == "INVALID_ARGUMENT" and "cannot be fed" in details
    r.close(s)


def test_empty_memory_is_initialised(r, bystander):
    other = r.session()
    big = np.full(65536, 7.0, np.float32)
    r.extend(other, const("c", big), node("sq", "Square", ["c"], T=F32))
    r.run(other, ["sq:0"])
    r.close(other)
    s = r.session()
    r.extend(s, const("shape", np.array([65536], np.int32)),
             node("e", "Empty", ["shape"], dtype=F32, init=False))
    (got,) = r.run(s, ["e:0"])
    assert got.shape == (65536,) and not np.any(got)
    r.close(s)


def test_variables_with_one_shared_name_are_not_shared(r, bystander):
    a, b = r.session(), r.session()
    for s, value in ((a, 1.0), (b, 2.0)):
        v = variable("v", np.array([value]))
        v.attrs["shared_name"].s = b"the-same"
        r.extend(s, v, node("read", "ReadVariableOp", ["v"], dtype=F64),
                 const("one", np.array([10.0])), node("add", "AssignAddVariableOp", ["v", "one"], dtype=F64))
    r.run(a, targets=["add"])
    assert r.run(a, ["read:0"])[0][0] == 11.0
    assert r.run(b, ["read:0"])[0][0] == 2.0
    r.close(a)
    r.close(b)


def test_shared_name_on_other_ops_is_rejected(r):
    from gentf_server.core import errors
    from gentf_server.core.allowlist import check_attrs
    from tensorflow.core.framework import node_def_pb2

    tf_def = node_def_pb2.NodeDef(name="x", op="AnyOp")
    tf_def.attr["shared_name"].s = b"x"
    with pytest.raises(errors.InvalidArgument, match="shared_name"):
        check_attrs(tf_def, "node 'x'")


# ---- limits --------------------------------------------------------------------------------


def test_a_50001_node_chain_is_refused_at_once(r, bystander):
    s = r.session()
    nodes = [const("c0", np.float32(1))]
    nodes += [node(f"c{i}", "Identity", [f"c{i - 1}"], T=F32) for i in range(1, 50_002)]
    start = time.monotonic()
    code, details = r.status("ExtendGraph", worker_pb2.ExtendGraphRequest(session_id=s, nodes=nodes))
    assert code == "RESOURCE_EXHAUSTED" and "--max-graph-depth" in details, details
    assert time.monotonic() - start < 10
    r.close(s)


def test_a_huge_fill_is_resource_exhausted_at_once(r, bystander):
    s = r.session()
    start = time.monotonic()
    code, details = r.status("ExtendGraph", worker_pb2.ExtendGraphRequest(session_id=s, nodes=[
        const("dims", np.array([100_000, 100_000], np.int32)), const("v", np.float32(1)),
        node("fill", "Fill", ["dims", "v"], T=F32, index_type=I32)]))
    assert code == "RESOURCE_EXHAUSTED" and "--max-tensor-mb" in details, details
    assert time.monotonic() - start < 5
    r.close(s)


def test_graph_and_variable_quotas():
    from gentf_server.core.limits import SessionLimits

    limits = SessionLimits(max_graph_nodes=10, max_graph_bytes=4096, max_variable_bytes=1024)
    with _limited_worker(limits) as r:
        s = r.session()
        code, details = r.status("ExtendGraph", worker_pb2.ExtendGraphRequest(session_id=s, nodes=[
            const(f"c{i}", np.float32(i)) for i in range(11)]))
        assert code == "RESOURCE_EXHAUSTED" and "--max-graph-nodes" in details, details
        code, details = r.status("ExtendGraph", worker_pb2.ExtendGraphRequest(
            session_id=s, nodes=[const("big", np.zeros(2000, np.float32))]))
        assert code == "RESOURCE_EXHAUSTED" and "--max-graph-mb" in details, details
        code, details = r.status("ExtendGraph", worker_pb2.ExtendGraphRequest(
            session_id=s, nodes=[variable("w", np.zeros(200, np.float64))]))
        assert code == "RESOURCE_EXHAUSTED" and "--max-variable-mb" in details, details
        # nothing was added; what fits still works
        r.extend(s, variable("w", np.ones(100, np.float64)),
                 node("read", "ReadVariableOp", ["w"], dtype=F64))
        np.testing.assert_array_equal(r.run(s, ["read:0"])[0], np.ones(100))
        assert len(r.sessions.get(s)._graph.nodes) == 2


def test_sessions_are_capped_with_the_flag_named():
    from gentf_server.core.limits import SessionLimits

    with _limited_worker(SessionLimits()) as r:
        r.sessions.max_sessions = 2
        r.session(), r.session()
        code, details = r.status("CreateSession", worker_pb2.CreateSessionRequest())
        assert code == "RESOURCE_EXHAUSTED" and "--max-sessions" in details


@pytest.mark.parametrize("lease", [float("nan"), float("inf"), -1.0])
def test_non_finite_or_negative_lease_is_invalid(r, bystander, lease):
    code, details = r.status("CreateSession", worker_pb2.CreateSessionRequest(lease_seconds=lease))
    assert code == "INVALID_ARGUMENT" and "lease_seconds" in details


def test_an_expired_session_with_a_blocked_call_does_not_hang_create(worker, r):
    s = r.session()
    r.extend(s, variable("w", np.ones(3)))
    core = worker.sessions.get(s)
    held, release = threading.Event(), threading.Event()

    def blocked_call() -> None:  # stands in for a call blocked inside TensorFlow
        with core._call():  # how every call holds its session
            held.set()
            release.wait(30)

    thread = threading.Thread(target=blocked_call)
    thread.start()
    held.wait(5)
    core.deadline = 0.0  # its lease ran out
    start = time.monotonic()
    other = r.session()
    assert time.monotonic() - start < 5
    assert r.status("RenewLease", worker_pb2.RenewLeaseRequest(session_id=s))[0] == "NOT_FOUND"
    release.set()
    thread.join()
    assert core.closed and not core._variables  # freed when the blocked call ended
    r.close(other)


# ---- precise statuses, all or nothing ------------------------------------------------------


METHODS = ["GetOpRegistry", "RenewLease", "CloseSession", "ExtendGraph", "Construct",
           "Generate", "ChoiceGradients", "AccumulateParamGradients", "RunOp", "Batch",
           "CreateSession"]


def test_random_bytes_are_invalid_argument(worker, r, bystander):
    rng = np.random.default_rng(7)
    codes: dict[str, int] = {}
    for i in range(600):
        method = METHODS[i % len(METHODS)]
        payload = rng.bytes(int(rng.integers(1, 200)))
        code = r.raw_status(method, payload)
        codes[code] = codes.get(code, 0) + 1
    # random bytes rarely parse; when they do, the request names no session
    assert set(codes) <= {"INVALID_ARGUMENT", "NOT_FOUND", "OK"}, codes
    assert codes["INVALID_ARGUMENT"] > 500, codes
    for sid in list(worker.sessions._sessions):
        if sid != bystander.session and worker.sessions._sessions[sid].lease_seconds != 3600.0:
            worker.sessions.close(sid)


class _Counter:
    """A session with a counter variable and an op that adds one to it."""

    def __init__(self, r: Raw) -> None:
        self.r = r
        self.s = r.session()
        r.extend(self.s, variable("n", np.zeros(1)), const("one", np.ones(1)),
                 node("inc", "AssignAddVariableOp", ["n", "one"], dtype=F64),
                 node("read", "ReadVariableOp", ["n"], dtype=F64))

    def value(self) -> float:
        return float(self.r.run(self.s, ["read:0"])[0][0])


def test_a_tensor_name_as_target_is_invalid(r, bystander):
    c = _Counter(r)
    code, details = r.status("RunOp", worker_pb2.RunOpRequest(session_id=c.s, targets=["n:0"]))
    assert code == "INVALID_ARGUMENT" and "'n:0'" in details
    code, _ = r.status("RunOp", worker_pb2.RunOpRequest(session_id=c.s, targets=["^inc"]))
    assert code == "INVALID_ARGUMENT"
    assert c.value() == 0.0
    r.close(c.s)


def test_a_scalar_string_fetch_works_and_runs_its_target_once(r, bystander):
    c = _Counter(r)
    r.extend(c.s, const("word", np.array(b"hello", dtype=object)))
    (got,) = r.run(c.s, ["word:0"], ["inc"])
    assert got.shape == () and got[()] == b"hello"
    assert c.value() == 1.0
    r.close(c.s)


def test_a_string_fetch_over_the_cap_does_not_run_its_target(capped_worker):
    with raw(capped_worker.address) as r:
        c = _Counter(r)
        # 300 strings of 4 KiB: 1.2 MiB on the wire, 2.4 KiB if strings were 8 bytes each
        r.extend(c.s, const("dims", np.array([300], np.int32)),
                 const("chunk", np.array(b"x" * 4096, dtype=object)),
                 node("words", "Fill", ["dims", "chunk"], T=7, index_type=I32))
        code, details = r.status("RunOp", worker_pb2.RunOpRequest(
            session_id=c.s, fetches=["words:0"], targets=["inc"]))
        assert code == "RESOURCE_EXHAUSTED" and "nothing was changed" in details, details
        assert c.value() == 0.0
        r.close(c.s)


def test_the_reply_quota_bounds_one_call_and_changes_nothing():
    with _limited_worker(max_reply_bytes=64 << 10) as r:
        c = _Counter(r)
        r.extend(c.s, const("dims", np.array([20_000], np.int32)), const("z", np.float64(0)),
                 node("zeros", "Fill", ["dims", "z"], T=F64, index_type=I32))
        code, details = r.status("RunOp", worker_pb2.RunOpRequest(
            session_id=c.s, fetches=["zeros:0"], targets=["inc"]))
        assert code == "RESOURCE_EXHAUSTED" and "--max-reply-mb" in details, details
        assert c.value() == 0.0


def _function(r: Raw, s: str) -> tuple[str, str]:
    """y = W x (W: 2x3 variable, x: (None, 3) placeholder); (function id, accumulator)."""
    r.extend(s, variable("W", np.ones((2, 3))), variable("acc", np.zeros((2, 3))),
             node("x", "Placeholder", dtype=F64))
    r.extend(s, node("Wr", "ReadVariableOp", ["W"], dtype=F64),
             node("y", "MatMul", ["x", "Wr"], T=F64, transpose_b=True),
             node("acc_read", "ReadVariableOp", ["acc"], dtype=F64))
    reply = r("Construct", worker_pb2.ConstructRequest(session_id=s, params=["W"], inputs=["x"],
                                                      output="y", accumulators=["acc"]))
    return reply.function_id, "acc_read:0"


def test_a_batch_over_the_cap_changes_nothing(capped_worker):
    with raw(capped_worker.address) as r:
        c = _Counter(r)
        fid, acc = _function(r, c.s)
        x = np.ones((4, 3))
        trace = worker_pb2.GenerateRequest(session_id=c.s, function_id=fid, keep_trace=True)
        fill_tensor(trace.args.add(), x)
        handle = r("Generate", trace).trace_handle
        traces = capped_worker.sessions.get(c.s)._traces
        traces_before = sorted(traces._records)
        r.extend(c.s, const("dims", np.array([200_000], np.int32)), const("z", np.float64(0)),
                 node("zeros", "Fill", ["dims", "z"], T=F64, index_type=I32))
        batch = worker_pb2.BatchRequest(session_id=c.s)
        acc_call = batch.calls.add().accumulate_param_gradients
        acc_call.function_id, acc_call.trace_handle, acc_call.scale_factor = fid, handle, 1.0
        fill_tensor(acc_call.retval_grad, np.ones((4, 2)))
        batch.calls.add().run_op.targets.append("inc")
        gen = batch.calls.add().generate
        gen.CopyFrom(trace)
        gen.session_id = ""
        batch.calls.add().run_op.fetches.append("zeros:0")  # 1.6 MB: the reply is over 1 MiB
        code, details = r.status("Batch", batch)
        assert code == "RESOURCE_EXHAUSTED" and "nothing was changed" in details, details
        assert c.value() == 0.0
        np.testing.assert_array_equal(r.run(c.s, [acc])[0], np.zeros((2, 3)))
        assert sorted(traces._records) == traces_before  # the batch's kept trace was dropped
        # the same batch without the large fetch applies every call
        del batch.calls[3]
        r("Batch", batch)
        assert c.value() == 1.0
        np.testing.assert_array_equal(r.run(c.s, [acc])[0], np.full((2, 3), 4.0))
        r.close(c.s)


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_scale_factor_is_invalid_and_adds_nothing(r, bystander, scale):
    s = r.session()
    fid, acc = _function(r, s)
    request = worker_pb2.GradientRequest(session_id=s, function_id=fid, scale_factor=scale)
    fill_tensor(request.args.add(), np.ones((4, 3)))
    fill_tensor(request.retval_grad, np.ones((4, 2)))
    code, details = r.status("AccumulateParamGradients", request)
    assert code == "INVALID_ARGUMENT" and "scale_factor" in details
    np.testing.assert_array_equal(r.run(s, [acc])[0], np.zeros((2, 3)))
    r.close(s)


def test_generate_failing_inside_tensorflow_is_invalid_argument(r, bystander):
    s = r.session()
    r.extend(s, node("i", "Placeholder", dtype=I32), const("table", np.arange(3.0)),
             const("axis", np.int32(0)))
    r.extend(s, node("g", "GatherV2", ["table", "i", "axis"], Tparams=F64, Tindices=I32,
                     Taxis=I32))
    fid = r("Construct", worker_pb2.ConstructRequest(session_id=s, inputs=["i"], output="g")).function_id
    request = worker_pb2.GenerateRequest(session_id=s, function_id=fid, keep_trace=True)
    fill_tensor(request.args.add(), np.array([0, 7], np.int32))
    code, details = r.status("Generate", request)
    assert code == "INVALID_ARGUMENT" and fid in details, details
    request.args[0].Clear()
    fill_tensor(request.args[0], np.array([2, 0], np.int32))
    reply = r("Generate", request)
    assert reply.trace_handle > 0
    r.close(s)


def test_an_accumulation_whose_reply_is_over_the_quota_adds_nothing():
    with _limited_worker(max_reply_bytes=64 << 10) as r:
        s = r.session()
        fid, acc = _function(r, s)
        request = worker_pb2.GradientRequest(session_id=s, function_id=fid, scale_factor=1.0)
        fill_tensor(request.args.add(), np.ones((10_000, 3)))  # argument gradients: 240 kB
        fill_tensor(request.retval_grad, np.ones((10_000, 2)))
        code, details = r.status("AccumulateParamGradients", request)
        assert code == "RESOURCE_EXHAUSTED" and "--max-reply-mb" in details, details
        np.testing.assert_array_equal(r.run(s, [acc])[0], np.zeros((2, 3)))
        request.skip_arg_grads = True  # the same without argument gradients fits
        r("AccumulateParamGradients", request)
        np.testing.assert_array_equal(r.run(s, [acc])[0], np.full((2, 3), 10_000.0))


@pytest.mark.slow
def test_out_of_memory_in_tensorflow_is_resource_exhausted_and_the_worker_lives():
    from op_fuzz import worker_process

    with worker_process(memory_bytes=3 << 30) as proc, raw(proc.address) as r:
        s = r.session()
        r.extend(s, node("dims", "Placeholder", dtype=I32), const("one", np.float32(1)),
                 const("axes", np.array([0, 1], np.int32)))
        r.extend(s, node("fill", "Fill", ["dims", "one"], T=F32, index_type=I32))
        r.extend(s, node("total", "Sum", ["fill", "axes"], T=F32, Tidx=I32))
        request = worker_pb2.RunOpRequest(session_id=s, fetches=["total:0"])
        fill_tensor(request.feeds["dims"], np.array([40_000, 40_000], np.int32))  # 6.4 GB
        code, details = r.status("RunOp", request, timeout=120)
        assert code == "RESOURCE_EXHAUSTED", details
        assert proc.alive()
        assert r.run(s, ["total:0"], feeds={"dims": np.array([2, 3], np.int32)})[0] == 6.0
