"""Issue 11: ``gentf-worker --strategy parameter-server`` against a plain one-device worker.

A real cluster on loopback: two ``worker`` and two ``ps`` tasks, each TensorFlow's own
``tf.distribute.Server`` (``python -m gentf_server.tfserver``), and a gentf worker whose
``TF_CONFIG`` makes it the ``chief`` (the coordinator). The plain worker runs in this test
process. The same float64 model is built in a session on each; forward values, argument
gradients, accumulated parameter gradients and Adam updates must agree to rtol 1e-9, and
with an independent numpy reference, for batch sizes 64, 63 and 1 and for a scalar mean loss.
Every process started here is killed at the end.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gentf import TFFunction, accumulate_param_gradients, get_param_grad_tf_var, runtf, tf
from gentf.graph import Graph
from gentf.remote._transport import Transport
from gentf.v1 import worker_pb2
from parity import (
    N_IN,
    N_OUT,
    RTOL,
    Model,
    check_adam_and_sums,
    check_forward_and_gradients,
    check_mean_loss,
    check_trained_alike,
    free_ports,
    fused_training,
    reference,
)

PY = sys.executable


# ---- TF_CONFIG checks (no cluster needed) --------------------------------------------------

def _tf_config(task_type: str, index: int = 0, **jobs: list[str]) -> str:
    cluster = jobs or {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"], "ps": ["127.0.0.1:3"]}
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize("tf_config, flags, message", [
    (None, [], "TF_CONFIG is not set"),
    ("{not json", [], "TF_CONFIG is not JSON"),
    (_tf_config("worker"), [], "task type is 'worker', but this process must be 'chief'"),
    (_tf_config("chief", chief=["127.0.0.1:1"], worker=["127.0.0.1:2"]), [], "no 'ps' address"),
    (_tf_config("chief", 1), [], "task index 1 names no 'chief' address"),
    (_tf_config("chief", chief=["127.0.0.1:1", "127.0.0.1:4"], worker=["127.0.0.1:2"],
                ps=["127.0.0.1:3"]), [], "exactly one 'chief'"),
    (_tf_config("chief", chief=["127.0.0.1:1"], worker=["127.0.0.1:1"], ps=["127.0.0.1:3"]),
     [], "lists '127.0.0.1:1' twice"),
    (_tf_config("chief"), ["--isolation", "process"], "drop --isolation process"),
])
def test_worker_refuses_a_bad_tf_config_at_start(tmp_path: pathlib.Path, tf_config: str | None,
                                                 flags: list[str], message: str) -> None:
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = tf_config
    port_file = tmp_path / "port"
    done = subprocess.run(
        [PY, "-m", "gentf_server", "--port", "0", "--port-file", str(port_file),
         "--strategy", "parameter-server", *flags],
        check=False, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not port_file.exists()  # refused before serving anything


def test_tfserver_refuses_a_chief_task() -> None:
    env = dict(os.environ, TF_CONFIG=_tf_config("chief"))
    done = subprocess.run([PY, "-m", "gentf_server.tfserver"], check=False, capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "task type is 'chief', but this process must be 'worker' or 'ps'" in done.stderr


def test_strategy_parameter_server_implies_isolation_none() -> None:
    from gentf_server.main import parse_args

    assert parse_args(["--strategy", "parameter-server"]).isolation == "none"
    assert parse_args([]).isolation == "process"
    assert parse_args(["--strategy", "mirrored", "--isolation", "none"]).isolation == "none"


def _node(name: str, op: str, *inputs: str) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(name=name, op=op, tf_def=SimpleNamespace(input=list(inputs)))


def test_variables_one_op_uses_together_share_a_ps_task() -> None:
    """A new optimizer's slots follow the variable they update (made earlier or in the same
    ExtendGraph); a read alone ties nothing; control inputs tie nothing."""
    from gentf_server.core.distribute import colocation_groups

    old = {"W": _node("W", "VarHandleOp"), "b": _node("b", "VarHandleOp")}
    new = [_node("W/Adam", "VarHandleOp"), _node("W/Adam_1", "VarHandleOp"),
           _node("b/Adam", "VarHandleOp"), _node("lr", "Const"),
           _node("apply_W", "ResourceApplyAdam", "W", "W/Adam", "W/Adam_1", "lr"),
           _node("apply_b", "ResourceApplyAdam", "b:0", "b/Adam", "^W")]
    assert colocation_groups(new, old) == {"W/Adam": "W", "W/Adam_1": "W", "b/Adam": "b"}
    fresh = [_node("V", "VarHandleOp"), _node("V/m", "VarHandleOp"), _node("U", "VarHandleOp"),
             _node("read", "ReadVariableOp", "U"),
             _node("apply", "ResourceApplyMomentum", "V/m", "V")]
    assert colocation_groups(fresh, {}) == {"V/m": "V"}  # V is made first


# ---- the cluster ---------------------------------------------------------------------------

def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: pathlib.Path) -> None:
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"port {port} never opened: {log.read_text()}")
        time.sleep(0.1)


def _start_chief(tmp: pathlib.Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """The gentf worker as the cluster's chief (log appended to chief.log); (process,
    address) once it serves."""
    port_file = tmp / "port"
    port_file.unlink(missing_ok=True)
    log = tmp / "chief.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [PY, "-m", "gentf_server", "--port", "0", "--port-file", str(port_file),
             "--strategy", "parameter-server", "--state-dir", str(tmp / "state"),
             "--checkpoint-seconds", "3600", "--log-level", "DEBUG"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=str(tmp))
    deadline = time.monotonic() + 180
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the chief did not start: {log.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc, f"127.0.0.1:{int(port_file.read_text())}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two worker and two ps tf.distribute.Servers, a gentf chief with --state-dir, and a
    plain in-process worker; every process is killed at the end."""
    from gentf_server.service.server import WorkerConfig, background_server

    tmp = tmp_path_factory.mktemp("ps-cluster")
    c0, w0, w1, p0, p1 = (f"127.0.0.1:{p}" for p in free_ports(5))
    jobs = {"chief": [c0], "worker": [w0, w1], "ps": [p0, p1]}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("GENTF_ADDRESS", None)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        servers = []
        for job, index in (("worker", 0), ("worker", 1), ("ps", 0), ("ps", 1)):
            log = tmp / f"{job}{index}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [PY, "-m", "gentf_server.tfserver"], stdout=out, stderr=subprocess.STDOUT,
                    env=dict(env, TF_CONFIG=_tf_config(job, index, **jobs)),
                    start_new_session=True)
            procs.append(proc)
            servers.append((int(jobs[job][index].rsplit(":", 1)[1]), proc, log))
        for port, server, log in servers:
            _wait_for_port(port, server, log)
        chief_env = dict(env, TF_CONFIG=_tf_config("chief", 0, **jobs))
        chief, address = _start_chief(tmp, chief_env)
        procs.append(chief)

        def restart_chief() -> str:
            """SIGKILL to the chief, a new one on the same cluster; its address."""
            os.killpg(procs[-1].pid, signal.SIGKILL)
            procs[-1].wait(30)
            new, new_address = _start_chief(tmp, chief_env)
            procs.append(new)
            return new_address

        with background_server(WorkerConfig(port=0, isolation="none")) as plain:
            yield {"ps": address, "plain": plain.address, "log": tmp / "chief.log",
                   "restart_chief": restart_chief}
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            proc.wait(30)


class PsModel(Model):
    """parity's Model plus ``bad``: a reshape that fails at run time unless 7 divides the
    size of ``xs``."""

    def extra_ops(self) -> None:
        """Builds ``bad`` with the model."""
        self.bad = tf.reshape(self.xs, [7, -1])


@pytest.fixture(scope="module")
def models(cluster: dict[str, Any]) -> Iterator[tuple[PsModel, PsModel]]:
    plain, ps = PsModel(cluster["plain"]), PsModel(cluster["ps"])
    yield plain, ps
    plain.sess.close()
    ps.sess.close()


@pytest.mark.slow
def test_worker_lists_the_cluster_and_logs_it(cluster: dict[str, Any]) -> None:
    live = Transport(cluster["ps"])
    try:
        info = live.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest())
    finally:
        live.close()
    assert list(info.devices) == [
        "/job:worker/replica:0/task:0", "/job:worker/replica:0/task:1",
        "/job:ps/replica:0/task:0/device:CPU:0", "/job:ps/replica:0/task:1/device:CPU:0"]
    log = cluster["log"].read_text()
    assert "this process is chief 0" in log and "strategy parameter-server over" in log


@pytest.mark.slow
@pytest.mark.parametrize("rows", [64, 63, 1])
def test_forward_and_gradients_match_one_device(models: tuple[PsModel, PsModel],
                                                rows: int) -> None:
    check_forward_and_gradients(*models, rows)


@pytest.mark.slow
def test_mean_loss_matches(models: tuple[PsModel, PsModel]) -> None:
    check_mean_loss(*models)


@pytest.mark.slow
def test_adam_updates_and_accumulated_sums_match(models: tuple[PsModel, PsModel]) -> None:
    """Accumulations of several batch sizes sum exactly; Adam steps (RunOp, scheduled on a
    worker host, variables and slots on the ps hosts) move both models alike, and later
    calls read the updated values from the ps hosts."""
    check_adam_and_sums(*models)


@pytest.mark.slow
def test_a_failing_call_changes_nothing_and_the_next_one_runs(models: tuple[PsModel, PsModel]) -> None:
    """A TensorFlow error on a worker host is InvalidArgument for that call only: the
    coordinator forgets it, so the calls after it run (and nothing was written)."""
    from gentf import errors

    _, ps = models
    before = ps.values()
    xs = np.random.default_rng(1).normal(size=(3, N_IN))
    with pytest.raises(errors.InvalidArgumentError, match="reshape|Reshape"):
        runtf(ps.net, ps.bad, feed_dict={ps.xs: xs})
    after = ps.values()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value)
    np.testing.assert_allclose(ps.net(xs), reference(after, xs, np.zeros((3, N_OUT)))[0],
                               rtol=RTOL)
    assert runtf(ps.net, ps.bad, feed_dict={ps.xs: xs[:0]}).shape == (7, 0)


@pytest.mark.slow
def test_batched_rows_are_split_over_the_two_worker_tasks(models: tuple[PsModel, PsModel]) -> None:
    """A function declared batched that is NOT row-independent (each row minus the column
    means) shows where the rows were split: the first 32 of 63 rows on one worker task, the
    last 31 on the other; undeclared, it runs whole."""
    _, ps = models
    xs = np.random.default_rng(2).normal(size=(63, N_IN))
    with ps.graph.as_default():
        centered = tf.subtract(ps.xs, tf.reduce_mean(ps.xs, axis=0, keepdims=True))
        split = TFFunction([], [ps.xs], centered, ps.sess, batched=True)
        whole = TFFunction([], [ps.xs], centered, ps.sess)
    parts = [xs[:32] - xs[:32].mean(0), xs[32:] - xs[32:].mean(0)]
    np.testing.assert_allclose(split(xs), np.concatenate(parts), rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(whole(xs), xs - xs.mean(0), rtol=RTOL, atol=1e-15)
    assert split(xs[:1]).shape == (1, N_IN)  # one row: one share is empty
    np.testing.assert_allclose(split(xs[:1]), np.zeros((1, N_IN)), atol=1e-15)


@pytest.mark.slow
def test_a_split_accumulation_that_fails_in_one_share_adds_nothing(
        models: tuple[PsModel, PsModel]) -> None:
    """Rows 0-3 of a batched gather are fine, row 6 indexes out of range: the share on one
    worker task may have added its gradient already, yet the call is InvalidArgument and
    the accumulator keeps its value; a good call then adds exactly the numpy sum."""
    from gentf import errors
    from gentf.remote._tffunction import TFTrace

    _, ps = models
    rng = np.random.default_rng(4)
    with ps.graph.as_default():
        table = tf.Variable(rng.normal(size=(4, 3)), name="table")
        idx = tf.placeholder(tf.int32, shape=(None,), name="idx")
        rows = TFFunction([table], [idx], tf.gather(table, idx), ps.sess, batched=True)
    acc = get_param_grad_tf_var(rows, table)
    start = np.asarray(runtf(rows, acc))
    g = rng.normal(size=(8, 3))
    bad = TFTrace(rows, (np.array([0, 1, 2, 3, 0, 1, 9, 2], np.int32),), np.zeros((8, 3)), 0)
    with pytest.raises(errors.InvalidArgumentError, match="indices"):
        accumulate_param_gradients(bad, g, 1.0)
    np.testing.assert_array_equal(runtf(rows, acc), start)
    good = np.array([0, 1, 2, 3, 0, 1, 3, 2], np.int32)
    accumulate_param_gradients(TFTrace(rows, (good,), np.zeros((8, 3)), 0), g, 2.0)
    expected = start.copy()
    np.add.at(expected, good, 2.0 * g)
    np.testing.assert_allclose(runtf(rows, acc), expected, rtol=RTOL, atol=1e-13)


@pytest.mark.slow
def test_fused_training_steps_and_checkpoint_match(cluster: dict[str, Any]) -> None:
    """Generate of a @gen model, accumulate_param_gradients_only and an ADAM ParamUpdate
    (fused by the worker into one scheduled TensorFlow call) move both workers' parameters
    alike; a named session's checkpoint, written from the coordinator, holds the values."""
    real_tf = pytest.importorskip("tensorflow")
    finals = []
    for address, name in ((cluster["plain"], None), (cluster["ps"], "ps-run")):
        m = Model(address, name=name)
        weights = fused_training(m)
        values = m.values()
        if name:
            reader = real_tf.train.load_checkpoint(m.sess.checkpoint())
            for var, value in values.items():
                np.testing.assert_array_equal(reader.get_tensor(var), value)
        finals.append((weights, values))
        m.close()
    check_trained_alike(*finals)


@pytest.mark.slow
def test_variables_live_on_the_ps_hosts(cluster: dict[str, Any]) -> None:
    """The chief logs (at DEBUG) where each session's variables went: spread over both ps
    tasks, round robin."""
    log = cluster["log"].read_text()
    placed = [line.rsplit(" on ", 1)[1] for line in log.splitlines()
              if " gentf_server: variable " in line]
    assert len(placed) >= 8
    assert {p.strip() for p in placed} == {f"/job:ps/replica:0/task:{i}/device:CPU:0"
                                           for i in (0, 1)}


@pytest.mark.slow
def test_a_restarted_chief_reloads_a_named_session(cluster: dict[str, Any],
                                                   models: tuple[PsModel, PsModel]) -> None:
    """Adam's minimize (a variable and its slots made in one ExtendGraph, so placed on one
    ps task) in a named session: 3 steps, a checkpoint, the chief killed and a new one
    started on the same cluster; the session re-attaches with the checkpointed values and
    3 more steps equal 6 uninterrupted steps on the plain worker. (Runs last: it replaces
    the chief the other tests use.)"""

    def build() -> tuple[Graph, Any, Any, Any]:
        g = Graph()
        with g.as_default():
            x = tf.placeholder(tf.float64, shape=(None, 3), name="x")
            w = tf.Variable(np.array([0.1, -0.2, 0.3]), name="W")
            loss = tf.reduce_sum(tf.square(tf.reduce_sum(tf.multiply(x, w), axis=1)))
            train = tf.train.AdamOptimizer(0.1).minimize(loss)
        return g, x, w, train

    xs = np.random.default_rng(0).normal(size=(5, 3))
    g, x, w, train = build()
    with tf.Session(cluster["plain"], graph=g) as plain:
        for _ in range(6):
            plain.run(train, feed_dict={x: xs})
        six = np.asarray(plain.run(w))
    g, x, w, train = build()
    sess = tf.Session(cluster["ps"], graph=g, name="restart-1")
    for _ in range(3):
        sess.run(train, feed_dict={x: xs})
    three = np.asarray(sess.run(w))
    sess.checkpoint()
    models[1].sess.close()  # the other tests' session on this chief
    address = cluster["restart_chief"]()
    again = tf.Session(address, graph=g, name="restart-1")
    assert again.restored_from.endswith("ckpt-" + again.restored_from.rsplit("-", 1)[-1])
    np.testing.assert_array_equal(np.asarray(again.run(w)), three)
    for _ in range(3):
        again.run(train, feed_dict={x: xs})
    np.testing.assert_allclose(np.asarray(again.run(w)), six, rtol=RTOL)
    again.close()
