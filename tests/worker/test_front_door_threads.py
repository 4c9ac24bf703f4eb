"""The front door serves each call on a gRPC thread: more calls than threads wait their turn
and all complete, exactly; one owner holds at most ``--max-calls-per-owner`` threads, so an
owner stalling its calls leaves the others served; bad counts refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from gentf import errors, tf
from gentf.graph import Graph
from gentf.remote._transport import Transport
from gentf.v1 import worker_pb2
from gentf.wire._blobs import chunk_frames, new_blob_id
from gentf_server.service.server import WorkerConfig, background_server

CLIENTS = 6
CALLS = 5
TOKEN_A = "token-of-alice-0123456789abcdef"
TOKEN_B = "token-of-bob-0123456789abcdef012"


def _client(address: str, k: int) -> list[np.ndarray]:
    graph = Graph()
    with graph.as_default():
        sess = tf.Session(address, graph=graph)
        w = tf.Variable(np.full((3,), float(k)), name="w")
        x = tf.placeholder(tf.float64, shape=(3,), name="x")
        y = tf.multiply(w, x)
        out = [sess.run(y, feed_dict={x: np.arange(3.0) + i}) for i in range(CALLS)]
        sess.close()
    return out


def test_more_clients_than_front_door_threads_all_get_exact_answers() -> None:
    with (background_server(WorkerConfig(port=0, front_door_threads=2)) as server,
          ThreadPoolExecutor(CLIENTS) as pool):
        results = list(pool.map(lambda k: _client(server.address, k), range(CLIENTS)))
    for k, outs in enumerate(results):
        for i, got in enumerate(outs):
            np.testing.assert_array_equal(got, float(k) * (np.arange(3.0) + i))


def test_an_owner_stalling_its_calls_holds_only_its_own_share() -> None:
    config = WorkerConfig(port=0, isolation="none", tokens=(TOKEN_A, TOKEN_B),
                          max_calls_per_owner=1)
    assert config.front_door_pool() == 1 * config.max_session_processes + 16
    with background_server(config) as server:
        alice = Transport(server.address, token=TOKEN_A)
        bob = Transport(server.address, token=TOKEN_B)
        sid = alice.call("CreateSession", worker_pb2.CreateSessionRequest()).session_id
        data = np.ones(1 << 16, np.uint8)
        frames = [head + bytes(piece) for head, piece in chunk_frames(
            data, session_id=sid, blob_id=new_blob_id(), chunk_bytes=1 << 14)]
        release = threading.Event()
        sent_first = threading.Event()

        def stalled() -> object:
            yield frames[0]
            sent_first.set()
            release.wait(60)  # the stream stalls, holding alice's one call
            yield from frames[1:]

        upload = threading.Thread(target=lambda: alice._put(stalled(), timeout=120,
                                                             metadata=alice._metadata))
        upload.start()
        try:
            assert sent_first.wait(30)
            deadline = time.monotonic() + 30  # until the front door has admitted the upload
            while not server.door._calls and time.monotonic() < deadline:
                time.sleep(0.01)
            assert sum(server.door._calls.values()) == 1
            with pytest.raises(errors.ResourceExhaustedError, match="--max-calls-per-owner"):
                alice.call("RenewLease", worker_pb2.RenewLeaseRequest(session_id=sid))
            info = bob.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest())
            assert info.max_message_bytes > 0  # bob is served meanwhile
        finally:
            release.set()
            upload.join(60)
        assert not upload.is_alive()
        alice.call("RenewLease", worker_pb2.RenewLeaseRequest(session_id=sid))  # free again
        alice.call("CloseSession", worker_pb2.CloseSessionRequest(session_id=sid))
        alice.close()
        bob.close()


@pytest.mark.parametrize("flags, message", [
    (["--front-door-threads", "1"], "--front-door-threads must be 0"),
    (["--max-calls-per-owner", "0"], "--max-calls-per-owner 1 or more"),
])
def test_bad_thread_counts_refuse_to_start(flags: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "gentf_server", "--port", "0", *flags],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
