"""The worker as a process and the client as a package: no TensorFlow in the client, current
stubs and op registry snapshot, session leases, the CLI, health, shutdown, the embedded worker."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from gentf import TFFunction, errors, tf
from gentf.remote._transport import Transport
from gentf.v1 import worker_pb2

ROOT = pathlib.Path(__file__).resolve().parents[2]
PY = sys.executable


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="error::RuntimeWarning")
    env.pop("GENTF_ADDRESS", None)
    env.update(extra)
    return env


def _run_python(code, timeout=240, **env):
    return subprocess.run([PY, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False,
                          timeout=timeout, env=_env(**env), cwd=str(ROOT))


# ---- the client never imports TensorFlow ------------------------------------------------


def test_import_gentf_does_not_import_tensorflow():
    proc = _run_python("""
        import json, sys
        import numpy as np
        import gentf
        from gentf import tf, TFFunction, choicemap, select, gen, normal
        import gentf.remote, gentf.wire, gentf.errors, gentf.gfi, gentf.dsl, gentf.inference
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, shape=(None, 784), name="xs")
            W = tf.Variable(np.zeros((784, 10), np.float32), name="W")
            b = tf.get_variable("b", shape=(10,), dtype=tf.float32) if hasattr(tf, "get_variable") else None
            probs = tf.nn.softmax(tf.add(tf.matmul(x, W), 0.0), axis=1)
            h = tf.raw_ops.Tanh(x=probs)
            step = tf.train.GradientDescentOptimizer(0.1).apply_gradients([(tf.zeros_like(W), W)])
            nodes = [op.node_def() for op in g.operations]
        bad = sorted(m for m in sys.modules
                     if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "gentf_server",
                                            "tensorboard", "jax", "torch", "ml_dtypes"))
        print(json.dumps({"bad": bad, "nodes": len(nodes)}))
    """)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["bad"] == []
    assert out["nodes"] > 5


# bfloat16 1.0, 2.0, -1.5 and the smallest subnormal, little-endian (0x3f80, 0x4000, 0xbfc0, 0x0001)
_BF16_BYTES = "803f" "0040" "c0bf" "0100"


@pytest.mark.parametrize("first", ["decode", "numpy_dtype", "name"])
def test_bfloat16_is_looked_up_at_its_first_tensor(first: str) -> None:
    """ml_dtypes (bfloat16's numpy dtype; its import alone took longer than the rest of
    ``import gentf``) is imported at the first bfloat16 tensor, however it comes first: a
    reply's tensor to decode, a user's bfloat16 array, or the type by name."""
    pytest.importorskip("ml_dtypes")
    proc = _run_python(f"""
        import json, sys
        import numpy as np
        import gentf
        from gentf.v1 import tensor_pb2
        from gentf.wire import DTYPES, as_dtype, decode_tensor, encode_tensor
        imported_with_gentf = "ml_dtypes" in sys.modules
        wire = bytes.fromhex("{_BF16_BYTES}")
        first = "{first}"
        if first == "decode":
            arr = decode_tensor(tensor_pb2.Tensor(dtype=14, shape=[4], content=wire))
        elif first == "numpy_dtype":
            import ml_dtypes
            arr = np.frombuffer(wire, dtype=np.dtype(ml_dtypes.bfloat16).newbyteorder("<"))
            arr = arr.astype(ml_dtypes.bfloat16)
            assert as_dtype(arr.dtype) is DTYPES["bfloat16"]
        else:
            arr = np.asarray([1.0, 2.0, -1.5, 0.0], dtype=DTYPES["bfloat16"].as_numpy_dtype)
            arr[3] = np.frombuffer(bytes.fromhex("0100"), dtype=arr.dtype)[0]
        import ml_dtypes
        message = encode_tensor(arr)
        back = decode_tensor(message)
        print(json.dumps({{
            "imported_with_gentf": imported_with_gentf,
            "dtype": str(arr.dtype), "values": [float(v) for v in arr.astype(np.float64)],
            "wire_dtype": int(message.dtype), "wire_bytes": bytes(message.content).hex()
                                                          if message.content else None,
            "back_same": bool(back.dtype == arr.dtype and back.tobytes() == arr.tobytes()),
            "by_numpy": as_dtype(np.dtype(ml_dtypes.bfloat16)).name,
            "as_numpy": str(DTYPES["bfloat16"].as_numpy_dtype)}}))
    """)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["imported_with_gentf"] is False
    assert out["dtype"] == "bfloat16" and out["as_numpy"] == "bfloat16"
    assert out["values"] == [1.0, 2.0, -1.5, 2.0 ** -133]
    assert out["wire_dtype"] == 14 and out["by_numpy"] == "bfloat16"
    assert out["wire_bytes"] in (_BF16_BYTES, None)  # inline, or attached beside the message
    assert out["back_same"] is True


# ---- generated code is current --------------------------------------------------------------


def test_committed_stubs_are_current(tmp_path):
    proc = subprocess.run([PY, str(ROOT / "tools" / "gen_protos.py"), str(tmp_path)],
                          capture_output=True, text=True, check=False, timeout=120, env=_env())
    assert proc.returncode == 0, proc.stderr
    generated = {p.name: p.read_text() for p in (tmp_path / "gentf" / "v1").iterdir() if p.is_file()}
    committed_dir = ROOT / "client" / "gentf" / "v1"
    committed = {p.name: p.read_text() for p in committed_dir.iterdir()
                 if p.is_file() and p.name != "__init__.py" and p.suffix in (".py", ".pyi")}
    assert set(generated) == set(committed), "stale or missing stub files"
    stale = [name for name in generated if generated[name] != committed[name]]
    assert not stale, f"regenerate with `python tools/gen_protos.py`: {stale} differ"
    protos = sorted(p.stem for p in (ROOT / "proto" / "gentf" / "v1").glob("*.proto"))
    assert {f"{p}_pb2.py" for p in protos} <= set(committed)


def test_bundled_op_registry_snapshot_parses(worker):
    path = ROOT / "client" / "gentf" / "graph" / "op_registry.binpb.gz"
    assert path.exists()
    snapshot = worker_pb2.GetOpRegistryResponse.FromString(gzip.decompress(path.read_bytes()))
    by_name = {op.name: op for op in snapshot.ops}
    assert len(by_name) > 1000
    assert snapshot.tensorflow_version and snapshot.registry_fingerprint
    for name in ("MatMul", "Placeholder", "VarHandleOp", "AssignVariableOp", "Softmax", "Tanh",
                 "ResourceApplyGradientDescent", "ResourceApplyAdam"):
        assert name in by_name, name
    matmul = by_name["MatMul"]
    assert [a.name for a in matmul.inputs] == ["a", "b"]
    assert {a.name for a in matmul.attrs} >= {"T", "transpose_a", "transpose_b"}
    assert matmul.has_gradient and not matmul.refused
    assert by_name["ReadFile"].refused
    # the worker's own registry (same TensorFlow here) has the same ops
    live = Transport(worker.address)
    try:
        info = live.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest())
        reply = live.call("GetOpRegistry", worker_pb2.GetOpRegistryRequest(names=["MatMul"]))
    finally:
        live.close()
    assert [op.name for op in reply.ops] == ["MatMul"]
    if info.tensorflow_version == snapshot.tensorflow_version:
        assert reply.ops[0] == matmul


def test_worker_info(worker):
    live = Transport(worker.address)
    try:
        info = live.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest())
    finally:
        live.close()
    assert info.gentf_version and info.tensorflow_version
    assert info.max_message_bytes == 64 << 20
    assert any("CPU" in d for d in info.devices)


# ---- session leases ---------------------------------------------------------------------------


def test_short_lease_expires(worker):
    live = Transport(worker.address)
    try:
        reply = live.call("CreateSession", worker_pb2.CreateSessionRequest(lease_seconds=0.5))
        assert reply.lease_seconds == pytest.approx(0.5)
        sid = reply.session_id
        renew = live.call("RenewLease", worker_pb2.RenewLeaseRequest(session_id=sid))
        assert renew.lease_seconds == pytest.approx(0.5)
        time.sleep(0.8)
        with pytest.raises(errors.NotFoundError) as info:
            live.call("RenewLease", worker_pb2.RenewLeaseRequest(session_id=sid))
        assert info.value.code == "NOT_FOUND"
        assert sid in str(info.value)
        with pytest.raises(errors.NotFoundError):
            live.call("CloseSession", worker_pb2.CloseSessionRequest(session_id=sid))
    finally:
        live.close()


def test_renewing_keeps_a_session_alive(worker):
    live = Transport(worker.address)
    try:
        sid = live.call("CreateSession", worker_pb2.CreateSessionRequest(lease_seconds=1.0)).session_id
        for _ in range(6):  # 1.8 s in all, well over the lease (margins for a loaded machine)
            time.sleep(0.3)
            live.call("RenewLease", worker_pb2.RenewLeaseRequest(session_id=sid))
        live.call("CloseSession", worker_pb2.CloseSessionRequest(session_id=sid))
    finally:
        live.close()


def test_every_call_renews_the_lease(worker, graph):
    sess = tf.Session(worker.address, graph=graph, lease_seconds=1.0)
    try:
        assert sess.lease_seconds == pytest.approx(1.0)
        x = tf.placeholder(tf.float64, shape=(2,), name="x")
        f = TFFunction([], [x], x + 1.0, sess)
        np.testing.assert_array_equal(f(np.zeros(2)), [1.0, 1.0])  # compiled before timing
        for _ in range(6):
            time.sleep(0.3)
            np.testing.assert_array_equal(f(np.zeros(2)), [1.0, 1.0])
        assert sess.renew_lease() == pytest.approx(1.0)
        time.sleep(1.3)
        with pytest.raises(errors.NotFoundError):
            f(np.zeros(2))
    finally:
        sess.close()
        sess.close()  # closing twice (and after expiry) is harmless


def test_close_twice_and_use_after_close(worker, graph):
    sess = tf.Session(worker.address, graph=graph)
    sid = sess.session_id
    x = tf.placeholder(tf.float64, shape=(), name="x")
    f = TFFunction([], [x], x * 3.0, sess)
    assert float(f(2.0)) == 6.0
    assert len(worker.sessions) >= 1
    sess.close()
    sess.close()
    assert sess.closed
    from gentf_server.core import errors as core_errors

    with pytest.raises(core_errors.NotFound):
        worker.sessions.get(sid)
    with pytest.raises(errors.FailedPreconditionError, match="closed"):
        f(2.0)
    with pytest.raises(errors.FailedPreconditionError, match="closed"):
        sess.run(x, feed_dict={x: 1.0})


def test_session_manager_limits():
    from gentf_server.core import errors as core_errors
    from gentf_server.core.registry import op_registry
    from gentf_server.core.sessions import SessionManager

    manager = SessionManager(op_registry(), default_lease_seconds=60.0, max_sessions=2)
    a = manager.create()
    assert a.lease_seconds == 60.0
    b = manager.create(0.2)
    with pytest.raises(core_errors.ResourceExhausted, match="2 sessions"):
        manager.create()
    with pytest.raises(core_errors.InvalidArgument, match="lease"):
        manager.create(-1.0)
    time.sleep(0.3)
    assert manager.expire() == 1
    assert b.closed
    with pytest.raises(core_errors.NotFound):
        manager.get(b.session_id)
    with pytest.raises(core_errors.FailedPrecondition):
        b.variable_value("W")
    c = manager.create()  # room again
    assert manager.get(a.session_id) is a
    manager.close_all()
    assert len(manager) == 0 and a.closed and c.closed


def test_too_many_sessions_is_resource_exhausted():
    from gentf_server.service.server import WorkerConfig, background_server

    with background_server(WorkerConfig(port=0, max_sessions=1, isolation="none")) as server:
        live = Transport(server.address)
        try:
            live.call("CreateSession", worker_pb2.CreateSessionRequest())
            with pytest.raises(errors.ResourceExhaustedError) as info:
                live.call("CreateSession", worker_pb2.CreateSessionRequest())
            assert info.value.code == "RESOURCE_EXHAUSTED"
            with pytest.raises(errors.InvalidArgumentError):
                live.call("CreateSession", worker_pb2.CreateSessionRequest(lease_seconds=-1))
        finally:
            live.close()


# ---- the CLI and the embedded worker ------------------------------------------------------


def _wait_for(path, proc, timeout=180.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("worker did not write its port file")
        time.sleep(0.05)
    return int(path.read_text())


def _health(address, service=""):
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=30).status


def test_cli_serves_health_and_stops_on_sigterm(tmp_path):
    from grpc_health.v1 import health_pb2

    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [PY, "-m", "gentf_server", "--port", "0", "--port-file", str(port_file),
         "--max-message-mb", "8", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=str(tmp_path))
    try:
        port = _wait_for(port_file, proc)
        address = f"127.0.0.1:{port}"
        assert _health(address) == health_pb2.HealthCheckResponse.SERVING
        assert _health(address, "gentf.v1.Worker") == health_pb2.HealthCheckResponse.SERVING
        live = Transport(address)
        try:
            info = live.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest())
            assert info.max_message_bytes == 8 << 20
            sid = live.call("CreateSession", worker_pb2.CreateSessionRequest()).session_id
            assert sid
        finally:
            live.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_help_and_console_script():
    script = pathlib.Path(PY).parent / "gentf-worker"
    cmd = [str(script)] if script.exists() else [PY, "-m", "gentf_server"]
    proc = subprocess.run([*cmd, "--help"], capture_output=True, text=True, check=False,
                          timeout=60, env=_env())
    assert proc.returncode == 0
    for flag in ("--host", "--port", "--max-message-mb", "--log-level"):
        assert flag in proc.stdout


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # an orphan no init reaps stays a zombie: it is not running


def _wait_gone(pid, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.1)
    return False


EMBEDDED_CLIENT = """
    import os, sys, numpy as np
    assert "GENTF_ADDRESS" not in os.environ
    from gentf import tf, TFFunction
    from gentf.remote import _embedded
    sess = tf.Session()
    x = tf.placeholder(tf.float64, shape=(2,), name="x")
    W = tf.Variable(np.array([[1.0, 2.0], [3.0, 4.0]]), name="W")
    f = TFFunction([W], [x], tf.squeeze(tf.matmul(W, tf.expand_dims(x, 1)), axis=1), sess)
    print("pid", _embedded._STATE["proc"].pid, flush=True)
    print("retval", f(np.array([1.0, 1.0])).tolist(), flush=True)
    print("tensorflow in client:", "tensorflow" in sys.modules, flush=True)
    {tail}
"""


def test_embedded_worker_starts_and_stops_with_the_program():
    proc = _run_python(EMBEDDED_CLIENT.format(tail="sess.close()"))
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    assert lines["retval"] == "[3.0, 7.0]"
    assert lines["tensorflow"] == "in client: False"
    pid = int(lines["pid"])
    assert _wait_gone(pid, timeout=20), f"embedded worker {pid} still runs"


def test_embedded_worker_exits_when_its_parent_is_killed():
    code = textwrap.dedent(EMBEDDED_CLIENT.format(tail="import time; time.sleep(600)"))
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), cwd=str(ROOT))
    pid = None
    try:
        for line in proc.stdout:
            if line.startswith("pid "):
                pid = int(line.split()[1])
            if line.startswith("tensorflow"):
                break
        assert pid is not None, proc.stderr.read()
        assert not _gone(pid)
        proc.kill()  # no atexit: the worker must notice by itself
        proc.wait()
        assert _wait_gone(pid, timeout=30), f"orphaned embedded worker {pid} still runs"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pid is not None and not _gone(pid):
            os.kill(pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
