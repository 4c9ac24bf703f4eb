"""Shared fixtures: a real worker on loopback (real gRPC, real TensorFlow) and sessions on it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gentf import tf
from gentf.graph import Graph


@pytest.fixture(scope="session")
def worker() -> Iterator[object]:
    """One worker for the whole test run, serving on a free loopback port."""
    from gentf_server.service.server import WorkerConfig, background_server

    with background_server(WorkerConfig(port=0, max_message_bytes=64 << 20, isolation="none")) as server:
        yield server


@pytest.fixture
def graph() -> Iterator[Graph]:
    """A fresh graph, made the default graph for the test."""
    g = Graph()
    with g.as_default():
        yield g


@pytest.fixture
def session(worker: object, graph: Graph) -> Iterator[tf.Session]:
    """A session on the shared worker, bound to the test's fresh default graph."""
    sess = tf.Session(worker.address, graph=graph)  # type: ignore[attr-defined]
    with sess.as_default():
        yield sess
    sess.close()


@pytest.fixture
def core_session(worker: object, session: tf.Session) -> object:
    """The worker-side core Session behind ``session`` (to check state directly)."""
    return worker.sessions.get(session.session_id)  # type: ignore[attr-defined]
