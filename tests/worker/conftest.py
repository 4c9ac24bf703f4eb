"""Fixtures for the worker tests (issue 2): extra workers with small limits, raw requests,
and snapshots of worker-side state to check that failed calls change nothing."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from gentf import tf
from gentf.graph import Graph


def pytest_configure(config: pytest.Config) -> None:
    """Registers the ``fuzz`` marker (tests/worker/test_op_fuzz.py)."""
    config.addinivalue_line("markers", "fuzz: the op fuzz test (GENTF_FUZZ_CASES sets its size)")


@contextlib.contextmanager
def _session_on(address: str) -> Iterator[tf.Session]:
    g = Graph()
    with g.as_default():
        sess = tf.Session(address, graph=g)
        with sess.as_default():
            try:
                yield sess
            finally:
                sess.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """(cert path, key path): a self-signed certificate for localhost and 127.0.0.1, made
    with openssl (the test is skipped without it)."""
    if subprocess.run(["openssl", "version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    return cert, key


@pytest.fixture
def session_on() -> Callable[[str], Any]:
    """``with session_on(address) as sess``: a session on another worker, with its own
    default graph (made the default session inside the block)."""
    return _session_on


@pytest.fixture(scope="module")
def tiny_trace_worker() -> Iterator[Any]:
    """A worker whose per-session trace store holds at most 64 bytes of arguments."""
    from gentf_server.service.server import WorkerConfig, background_server

    with background_server(WorkerConfig(port=0, trace_bytes=64, isolation="none")) as server:
        yield server


@pytest.fixture(scope="module")
def capped_worker() -> Iterator[Any]:
    """A worker whose gRPC messages are at most 1 MiB (bigger tensors travel as blobs) and
    whose calls may return at most 1 MiB (--max-reply-mb: more is RESOURCE_EXHAUSTED)."""
    from gentf_server.service.server import WorkerConfig, background_server

    with background_server(WorkerConfig(port=0, max_message_bytes=1 << 20,
                                                max_reply_bytes=1 << 20, isolation="none")) as server:
        yield server


@pytest.fixture
def snapshot(core_session: Any) -> Callable[..., dict[str, np.ndarray]]:
    """``snapshot(*variables)``: worker-side values of variables (client Variables or node
    names), read directly from the core session, as copies."""

    def take(*variables: Any) -> dict[str, np.ndarray]:
        out = {}
        for v in variables:
            name = v if isinstance(v, str) else v.op.name
            out[name] = np.array(core_session.variable_value(name), copy=True)
        return out

    return take


@pytest.fixture
def assert_unchanged(snapshot: Callable[..., dict[str, np.ndarray]]) -> Callable[..., None]:
    """``assert_unchanged(before)``: every variable in ``before`` still has exactly its value."""

    def check(before: dict[str, np.ndarray]) -> None:
        after = snapshot(*before)
        for name, value in before.items():
            np.testing.assert_array_equal(after[name], value, err_msg=f"variable {name!r} changed")

    return check
