"""Durable named sessions (issue 8): real worker processes on loopback, killed and restarted
on the same port; the same client Session object goes on from the latest checkpoint."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gentf import tf
from gentf.errors import (
    FailedPreconditionError,
    PermissionDeniedError,
)
from gentf.graph import Graph

ALICE = "alice-token-0123456789"
BOB = "bob-token-0123456789ab"
X = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
Y = np.array([1.0, -2.0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    """A gentf-worker process (its own process group) with a state dir and two tokens."""

    def __init__(self, tmp: str, port: int, checkpoint_seconds: float) -> None:
        self.tmp, self.port, self.cs = tmp, port, checkpoint_seconds
        self.state_dir = os.path.join(tmp, "state")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        tokens = os.path.join(self.tmp, "tokens")
        with open(tokens, "w") as f:
            f.write(f"{ALICE}\n{BOB}\n")
        port_file = os.path.join(self.tmp, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        env = dict(os.environ, GENTF_STOP_GRACE_SECONDS="20")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gentf_server.main", "--port", str(self.port), "--state-dir",
             self.state_dir, "--checkpoint-seconds", str(self.cs), "--token-file", tokens,
             "--port-file", port_file, "--log-level", "WARNING"],
            env=env, start_new_session=True, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not os.path.exists(port_file):
            assert self.proc.poll() is None, "the worker exited at start-up"
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to the worker and its session processes: nothing gets to save."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> None:
        """SIGTERM to the worker only (as `docker stop` does); waits for it to exit."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        time.sleep(0.5)  # the session processes finish saving and exit

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def _model() -> tuple[Graph, Any, Any, Any, Any]:
    g = Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, shape=(None, 3), name="x")
        y = tf.placeholder(tf.float64, shape=(None,), name="y")
        w = tf.Variable(np.array([0.1, -0.2, 0.3]), name="W")
        pred = tf.reduce_sum(tf.multiply(x, w), axis=1)
        loss = tf.reduce_sum(tf.square(tf.subtract(pred, y)))
        train = tf.train.AdamOptimizer(0.1).minimize(loss)
    return g, x, y, w, train


def _steps(sess: Any, model: Any, n: int) -> np.ndarray:
    _, x, y, w, train = model
    for _ in range(n):
        sess.run(train, feed_dict={x: X, y: Y})
    return np.asarray(sess.run(w))


@pytest.fixture
def worker_dir(tmp_path: Any) -> Iterator[str]:
    yield str(tmp_path)


@pytest.mark.parametrize("how, seconds", [("kill", 0.0), ("term", 3600.0)])
def test_same_session_goes_on_after_restart(worker_dir: str, how: str, seconds: float) -> None:
    worker = Worker(worker_dir, _free_port(), seconds)
    worker.start()
    try:
        reference = _model()
        with tf.Session(worker.address, graph=reference[0], token=ALICE) as ref:
            six = _steps(ref, reference, 6)
        model = _model()
        sess = tf.Session(worker.address, graph=model[0], token=ALICE, name="run-1")
        assert sess.restored_from == ""
        three = _steps(sess, model, 3)
        worker.kill() if how == "kill" else worker.terminate()
        worker.start()
        after = np.asarray(sess.run(model[3]))
        np.testing.assert_array_equal(after, three)  # exactly the pre-kill values
        assert sess.epoch == 1 and sess.restored_from.endswith("ckpt-" + sess.restored_from[-1])
        again = _steps(sess, model, 3)
        np.testing.assert_array_equal(again, six)  # == an uninterrupted 6-step run

        # real TensorFlow reads the checkpoint with the graph's variable names
        real_tf = pytest.importorskip("tensorflow")
        path = sess.checkpoint()
        directory = os.path.join(worker.state_dir, "run-1")
        assert real_tf.train.latest_checkpoint(directory) == path
        reader = real_tf.train.load_checkpoint(path)
        names = reader.get_variable_to_shape_map()
        np.testing.assert_array_equal(reader.get_tensor("W"), again)
        assert {"W/Adam", "W/Adam_1", "Adam/beta1_power", "Adam/beta2_power"} <= set(names)
        assert len([f for f in os.listdir(directory) if f.endswith(".gentf.json")]) <= 2

        # another owner can neither open nor delete the name; a new process re-attaches
        sess.close()
        other = _model()
        with pytest.raises(PermissionDeniedError, match="another owner"):
            tf.Session(worker.address, graph=other[0], token=BOB, name="run-1")
        with tf.Session(worker.address, graph=other[0], token=ALICE, name="run-1") as back:
            np.testing.assert_array_equal(back.run(other[3]), again)
        with pytest.raises(ValueError, match="not valid"):
            tf.Session(worker.address, graph=other[0], token=ALICE, name="../etc")

        # a graph that no longer matches: FAILED_PRECONDITION naming the variable
        g = Graph()
        with g.as_default():
            w4 = tf.Variable(np.zeros(4), name="W")
        bad = tf.Session(worker.address, graph=g, token=ALICE, name="run-1")
        with pytest.raises(FailedPreconditionError, match="'W'"):
            bad.run(w4)
        bad.delete()
        assert not os.path.exists(directory)
    finally:
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill()


def test_corrupt_newest_checkpoint_falls_back(tmp_path: Any, caplog: Any) -> None:
    real_tf = pytest.importorskip("tensorflow")
    from gentf_server.core.checkpoints import CheckpointStore

    store = CheckpointStore(str(tmp_path))
    state = store.open("n1", "alice")
    first = state.save({"W": real_tf.constant([1.0, 2.0])}, [7], 1)
    second = state.save({"W": real_tf.constant([3.0, 4.0])}, [7, 8], 2)
    # a kill in the middle of writing the newest: its data file is cut short
    data = second + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    state.release()
    again = store.open("n1", "alice")
    assert again.restored_from == first
    np.testing.assert_array_equal(again.pending["W"], [1.0, 2.0])
    assert 7 in again.applied and 8 not in again.applied
    assert "unusable" in caplog.text
    with pytest.raises(Exception, match="in use"):
        store.open("n1", "alice")
    again.release()
    with pytest.raises(Exception, match="another owner"):
        store.open("n1", "bob")
    with pytest.raises(Exception, match="not valid"):
        store.open("a/b", "alice")


def test_retried_request_applied_once(tmp_path: Any) -> None:
    pytest.importorskip("tensorflow")
    from gentf.v1 import worker_pb2
    from gentf_server.core.checkpoints import CheckpointStore
    from gentf_server.core.dispatch import Dispatcher
    from gentf_server.core.registry import op_registry
    from gentf_server.core.sessions import SessionManager

    g = Graph()
    with g.as_default():
        v = tf.Variable(np.zeros(2), name="v")
        inc = tf.assign_add(v, np.ones(2))
    manager = SessionManager(op_registry(), store=CheckpointStore(str(tmp_path), 0.0))
    dispatcher = Dispatcher(manager, 1 << 24)

    def call(method: str, request: Any) -> Any:
        out = dispatcher.handle(method, request.SerializeToString())
        assert out.ok, out.message
        return getattr(worker_pb2, f"{method}Response").FromString(out.reply)

    sid = call("CreateSession", worker_pb2.CreateSessionRequest(name="r", owner="a")).session_id
    ops = list(g.operations)
    call("ExtendGraph", worker_pb2.ExtendGraphRequest(
        session_id=sid, nodes=[op.to_node_def() for op in ops]))
    run = worker_pb2.RunOpRequest(session_id=sid, targets=[inc.op.name], fetches=[v.value().name],
                                  request_id=42)
    call("RunOp", run)
    reply = call("RunOp", run)  # the retry of a call whose reply was lost
    from gentf.wire import decode_tensor

    np.testing.assert_array_equal(decode_tensor(reply.fetched[0]), [1.0, 1.0])
    # the ids applied were saved with the checkpoint: after a restart, still applied once
    manager.close(sid)
    sid = call("CreateSession", worker_pb2.CreateSessionRequest(name="r", owner="a")).session_id
    call("ExtendGraph", worker_pb2.ExtendGraphRequest(
        session_id=sid, nodes=[op.to_node_def() for op in ops]))
    run.session_id = sid
    reply = call("RunOp", run)
    np.testing.assert_array_equal(decode_tensor(reply.fetched[0]), [1.0, 1.0])
    run.request_id = 43
    reply = call("RunOp", run)
    np.testing.assert_array_equal(decode_tensor(reply.fetched[0]), [2.0, 2.0])
    out = dispatcher.handle("CreateSession", worker_pb2.CreateSessionRequest(
        name="bad name", owner="a").SerializeToString())
    assert out.code == "INVALID_ARGUMENT" and "not valid" in out.message


_WRITER = r"""
import sys, numpy as np, tensorflow as tf
from gentf_server.core.checkpoints import CheckpointStore
state = CheckpointStore(sys.argv[1]).open("n2", "alice")
state.save({"W": tf.constant(np.full(1000, 1.0))}, [1], 1)
print("committed", flush=True)
big = tf.constant(np.full(40_000_000, 2.0))  # 320 MB: the write takes a while
print("writing", flush=True)
while True:
    state.save({"W": big}, [1, 2], 2)
"""


def test_a_kill_in_the_middle_of_a_checkpoint_write_leaves_a_usable_one(tmp_path: Any) -> None:
    """A real process writing a 320 MB checkpoint is SIGKILLed mid-write: the state dir still
    opens, at a complete checkpoint whose values are exact."""
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    try:
        assert proc.stdout.readline().strip() == "committed"
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    from gentf_server.core.checkpoints import CheckpointStore

    state = CheckpointStore(str(tmp_path)).open("n2", "alice")
    try:
        assert state.restored_from
        value = state.pending["W"]
        assert value.shape in ((1000,), (40_000_000,))
        np.testing.assert_array_equal(value, np.full(value.shape, 1.0 if value.size == 1000 else 2.0))
    finally:
        state.release()


def test_a_new_session_opening_the_name_reattaches_and_restores(worker_dir: str) -> None:
    """Closing a named session keeps its checkpoint; a new Session (a fresh graph built the same
    way, as a new process would) opening the name gets every variable back, Adam's slots
    included: 3 + 3 steps equal 6 uninterrupted ones. Another owner cannot open the name."""
    worker = Worker(worker_dir, _free_port(), 3600.0)
    worker.start()
    try:
        straight = _model()
        with straight[0].as_default():
            plain = tf.Session(worker.address, graph=straight[0], token=ALICE)
            six = _steps(plain, straight, 6)
            plain.close()
        first = _model()
        with first[0].as_default():
            sess = tf.Session(worker.address, graph=first[0], token=ALICE, name="again")
            three = _steps(sess, first, 3)
            sess.close()
        second = _model()
        with second[0].as_default():
            again = tf.Session(worker.address, graph=second[0], token=ALICE, name="again")
            np.testing.assert_array_equal(np.asarray(again.run(second[3])), three)
            np.testing.assert_array_equal(_steps(again, second, 3), six)
            again.close()
        with pytest.raises(PermissionDeniedError):
            tf.Session(worker.address, graph=_model()[0], token=BOB, name="again")
    finally:
        worker.kill()
