"""Who may reach a worker, and how it ends: TLS end to end with a certificate made here, the
refusal to listen on a network without a token and TLS, SIGTERM with a call still running,
and an embedded worker whose client is SIGKILLed. Real processes, real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from gentf import TFFunction, errors, tf
from gentf.graph import Graph
from gentf.remote._transport import Transport
from gentf.v1 import worker_pb2

PY = sys.executable
TOKEN = "a-test-token-0123456789abcdefghij"


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for name in ("GENTF_ADDRESS", "GENTF_TOKEN", "GENTF_TLS_CA"):
        env.pop(name, None)
    env.update(extra)
    return env


def _wait_for_port(path, proc, timeout=180.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the worker exited with {proc.returncode}"
        assert time.monotonic() < deadline, "the worker did not write its port file"
        time.sleep(0.05)
    return int(path.read_text())


def test_tls_and_token_end_to_end(certificate, monkeypatch):
    from gentf_server.service.server import WorkerConfig, background_server

    cert, key = certificate
    config = WorkerConfig(port=0, isolation="none", tokens=(TOKEN,), tls_cert=cert.read_bytes(),
                          tls_key=key.read_bytes())
    with background_server(config) as server:
        graph = Graph()
        with graph.as_default():
            sess = tf.Session(server.address, graph=graph, token=TOKEN,
                              root_certificates=str(cert))
            x = tf.placeholder(tf.float64, shape=(None, 2), name="x")
            W = tf.Variable(np.array([[1.0, 2.0], [3.0, 4.0]]), name="W")
            f = TFFunction([W], [x], tf.matmul(x, W), sess)
            np.testing.assert_array_equal(f(np.eye(2)), [[1.0, 2.0], [3.0, 4.0]])
            sess.close()
        # The environment variables do the same.
        monkeypatch.setenv("GENTF_TOKEN", TOKEN)
        monkeypatch.setenv("GENTF_TLS_CA", str(cert))
        with Graph().as_default() as g2:
            s2 = tf.Session(server.address, graph=g2)
            assert s2.session_id
            s2.close()
        monkeypatch.delenv("GENTF_TOKEN")
        monkeypatch.delenv("GENTF_TLS_CA")
        # Plaintext to a TLS port cannot talk; TLS without the token is refused.
        plain = Transport(server.address, timeout=5, token=TOKEN)
        try:
            with pytest.raises((errors.UnavailableError, errors.DeadlineExceededError)):
                plain.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest())
        finally:
            plain.close()
        anonymous = Transport(server.address, root_certificates=cert.read_bytes())
        try:
            with pytest.raises(errors.UnauthenticatedError):
                anonymous.call("CreateSession", worker_pb2.CreateSessionRequest())
        finally:
            anonymous.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_network_address_without_token_and_tls_refuses_to_start(host, tmp_path):
    proc = subprocess.run([PY, "-m", "gentf_server", "--host", host, "--port", "0"],
                          capture_output=True, text=True, timeout=60, env=_env(), check=False)
    assert proc.returncode == 2
    for flag in ("--token-file", "--tls-cert", "--insecure"):
        assert flag in proc.stderr
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")
    proc = subprocess.run([PY, "-m", "gentf_server", "--host", host, "--port", "0",
                           "--token-file", str(tokens)],
                          capture_output=True, text=True, timeout=60, env=_env(), check=False)
    assert proc.returncode == 2 and "--tls-cert" in proc.stderr  # a token alone is not enough


def test_bad_token_files_fail_at_start_naming_the_file(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("# no tokens here\n\n")
    for path, needle in ((empty, "no token"), (tmp_path / "missing", "cannot read")):
        proc = subprocess.run([PY, "-m", "gentf_server", "--port", "0", "--token-file", str(path)],
                              capture_output=True, text=True, timeout=60, env=_env(), check=False)
        assert proc.returncode == 2
        assert str(path) in proc.stderr and needle in proc.stderr


def test_sigterm_with_a_call_still_running_exits_within_the_grace_period(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [PY, "-m", "gentf_server", "--port", "0", "--port-file", str(port_file),
         "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=_env(GENTF_STOP_GRACE_SECONDS="2"))
    try:
        address = f"127.0.0.1:{_wait_for_port(port_file, proc)}"
        graph = Graph()
        with graph.as_default():
            # A short timeout: the client retries UNAVAILABLE (a restarting worker) until then.
            sess = tf.Session(address, graph=graph, timeout=15)
            m = tf.placeholder(tf.float32, shape=(1500, 1500), name="m")
            y = m
            for _ in range(400):
                y = tf.tanh(tf.matmul(y, m))
            total = tf.reduce_sum(y)
        outcome = []

        def run():
            try:
                sess.run(total, feed_dict={m: np.zeros((1500, 1500), np.float32)})
                outcome.append("finished")
            except errors.GentfError as exc:
                outcome.append(type(exc).__name__)

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(3.0)
        assert not outcome, "the slow call should still be running"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - t0 < 15
        thread.join(timeout=60)
        assert outcome and outcome[0] != "finished"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _running(pid):
    """True while ``pid`` runs (a zombie waiting for its reaper has stopped running)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_embedded_worker_exits_when_its_client_is_sigkilled_mid_call():
    code = textwrap.dedent("""
        import sys, threading, numpy as np
        from gentf import tf
        from gentf.remote import _embedded
        sess = tf.Session()
        print(_embedded._STATE["proc"].pid, flush=True)
        m = tf.placeholder(tf.float32, shape=(1500, 1500), name="m")
        y = m
        for _ in range(2000):
            y = tf.tanh(tf.matmul(y, m))
        total = tf.reduce_sum(y)
        threading.Timer(2.0, lambda: print("calling", flush=True)).start()
        sess.run(total, feed_dict={m: np.zeros((1500, 1500), np.float32)})
    """)
    client = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True, env=_env())
    try:
        worker_pid = int(client.stdout.readline())
        assert client.stdout.readline().strip() == "calling"
        time.sleep(1.0)
        client.kill()
        client.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not _running(worker_pid):
                break
            time.sleep(0.1)
        else:
            os.kill(worker_pid, signal.SIGKILL)
            raise AssertionError("the embedded worker outlived its SIGKILLed client")
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        client.stdout.close()
