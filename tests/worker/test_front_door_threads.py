"""The front door serves calls on ``--front-door-threads`` gRPC threads: more calls than
threads wait their turn and all complete, exactly; a count under 2 refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from gentf import tf
from gentf.graph import Graph
from gentf_server.service.server import WorkerConfig, background_server

CLIENTS = 6
CALLS = 5


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


def test_fewer_than_two_front_door_threads_refuse_to_start() -> None:
    proc = subprocess.run([sys.executable, "-m", "gentf_server", "--port", "0",
                           "--front-door-threads", "1"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), check=False)
    assert proc.returncode == 2
    assert "--front-door-threads must be 2 or more" in proc.stderr
