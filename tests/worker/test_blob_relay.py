"""The front door's blob relay with real processes and sockets: exact round trips at sizes
around the chunk size, no descriptor left behind, and a session process killed in the middle
of an upload answered ABORTED with the front door serving the next call."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from gentf import tf
from gentf.graph import Graph
from gentf.wire._blobs import CHUNK_BYTES, chunk_frames, new_blob_id


@pytest.fixture(scope="module")
def relay_worker() -> Iterator[Any]:
    """A session-process worker (every blob goes through the front door's relay)."""
    from gentf_server.service.server import WorkerConfig, background_server

    with background_server(WorkerConfig(port=0, isolation="process", warm_processes=1)) as server:
        yield server


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _round_trip(address: str, n: int) -> None:
    """Feeds ``n`` bytes into a variable and fetches them back; compared exactly."""
    value = np.random.default_rng(n).integers(0, 255, n, dtype=np.uint8)
    g = Graph()
    with g.as_default():
        sess = tf.Session(address, graph=g, direct=False)
        try:
            x = tf.placeholder(tf.uint8, shape=(n,), name="x")
            v = tf.Variable(np.zeros(n, np.uint8), name="v")
            sess.run(tf.assign(v, x).op, feed_dict={x: value})
            np.testing.assert_array_equal(sess.run(v), value)
        finally:
            sess.close()


@pytest.mark.parametrize("n", [CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 7])
def test_blobs_round_trip_exactly_around_the_chunk_size(relay_worker: Any, n: int) -> None:
    _round_trip(relay_worker.address, n)


def test_many_blobs_leave_no_descriptor_behind(relay_worker: Any) -> None:
    _round_trip(relay_worker.address, CHUNK_BYTES + 1)  # connections and pools warm
    before = _fds()
    for _ in range(20):
        _round_trip(relay_worker.address, CHUNK_BYTES + 1)
    assert _fds() <= before + 2  # a pooled connection or two, not one per blob


def test_a_process_killed_mid_upload_is_aborted_and_the_front_door_lives_on(
        relay_worker: Any) -> None:
    g = Graph()
    with g.as_default():
        sess = tf.Session(relay_worker.address, graph=g, direct=False)
    process = relay_worker.supervisor.owner_process(relay_worker.door.auth.owner([]))
    data = np.ones(4 * CHUNK_BYTES, np.uint8)

    def chunks() -> Iterator[bytes]:
        for i, (head, piece) in enumerate(chunk_frames(data, session_id=sess.session_id,
                                                       blob_id=new_blob_id())):
            if i == 2:
                os.kill(process.pid, signal.SIGKILL)
                time.sleep(0.5)
            yield head + bytes(piece)

    channel = grpc.insecure_channel(relay_worker.address)
    put = channel.stream_unary("/gentf.v1.Worker/PutBlob")
    with pytest.raises(grpc.RpcError) as caught:
        put(chunks(), timeout=60)
    channel.close()
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert "session process died" in (caught.value.details() or "")
    deadline = time.monotonic() + 30
    while process.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    _round_trip(relay_worker.address, CHUNK_BYTES + 1)  # a new process, the same front door
