"""The shared direct port (``--direct-port``): one TCP port of the worker where every
session's direct calls come in, each connection handed to its session's process. Real
workers, real session processes, real sockets: the values match the front door's exactly,
a connection reaches only its own session's process and that process checks the owner's
token, what names no session is closed and changes nothing, a port that cannot be reached
and a killed process send the client back to the front door, TLS holds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from gentf import errors
from gentf.wire._frames import CONTROL_HELLO, encode_request_header, encode_route, send_frames
from test_direct import TOKEN_A, TOKEN_B, _kill_owners_process, _Net, _reply, _train_alike


@pytest.fixture(scope="module")
def shared_worker():
    """A worker with process isolation, two owners' tokens and a shared direct port."""
    from gentf_server.service.server import WorkerConfig, background_server

    config = WorkerConfig(port=0, isolation="process", tokens=(TOKEN_A, TOKEN_B),
                          warm_processes=1, direct_port=0, max_message_bytes=8 << 20,
                          max_calls_per_owner=4, idle_process_seconds=1.0)
    with background_server(config) as server:
        yield server


def _routed_hello(port, route, token, tls=None):
    """A raw connection to the shared port that named ``route`` and said hello with
    ``token``; returns (socket, status name, message)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(encode_route(route))
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
        payload = json.dumps({"token": token}).encode()
        send_frames(sock, [encode_request_header(CONTROL_HELLO, len(payload)), payload])
        code, message = _reply(sock)
    except BaseException:
        sock.close()
        raise
    return sock, code, message


def _count(server, outcome):
    """The worker's ``gentf_direct_connections_total`` metric for ``outcome``."""
    return server.metrics.registry.get_sample_value(
        "gentf_direct_connections_total", {"outcome": outcome}) or 0.0


def _closed_by_peer(sock):
    """True when the worker hangs up without a word (EOF or a reset)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_calls_through_the_shared_port_give_the_front_doors_values_exactly(shared_worker):
    handed_over = _count(shared_worker, "handed_over")
    direct = _Net(shared_worker.address, TOKEN_A, direct=None)  # the default: direct
    front = _Net(shared_worker.address, TOKEN_A, direct=False)
    transport = direct.sess._transport
    assert transport.direct_address == f"127.0.0.1:{shared_worker.shared_direct.port}"
    assert transport.direct_route == direct.sess.session_id
    assert front.sess._transport._direct is None
    _train_alike(direct, front, [4, 3000, 4], seed=3)  # 3,000 rows: attachments
    assert transport._direct is not None and transport._direct._idle  # never fell back
    assert _count(shared_worker, "handed_over") >= handed_over + 1
    for n in (direct, front):
        n.sess.close()


def test_a_connection_reaches_its_sessions_process_which_wants_the_owners_token(shared_worker):
    alice = _Net(shared_worker.address, TOKEN_A, direct=True)
    bob = _Net(shared_worker.address, TOKEN_B, direct=True)
    port = shared_worker.shared_direct.port
    sock, code, _ = _routed_hello(port, alice.sess.session_id, TOKEN_A)
    sock.close()
    assert code == "OK"
    # Alice's token on a route to Bob's session: Bob's process says no
    sock, code, message = _routed_hello(port, bob.sess.session_id, TOKEN_A)
    assert code == "UNAUTHENTICATED" and "one owner" in message
    assert _closed_by_peer(sock)
    sock.close()
    xs = np.ones((2, 5))
    np.testing.assert_allclose(alice.f(xs).sum(axis=1), [1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(bob.f(xs).sum(axis=1), [1.0, 1.0], rtol=1e-12)
    assert alice.sess._transport._direct is not None and bob.sess._transport._direct is not None
    for n in (alice, bob):
        n.sess.close()


def test_what_names_no_session_is_closed_and_changes_nothing(shared_worker, monkeypatch):
    from gentf_server.supervisor import shared_port

    monkeypatch.setattr(shared_port, "ROUTE_SECONDS", 0.5)
    alice = _Net(shared_worker.address, TOKEN_A, direct=True)
    twin = _Net(shared_worker.address, TOKEN_A, direct=False)
    _train_alike(alice, twin, [3], seed=9)
    port = shared_worker.shared_direct.port
    before = {o: _count(shared_worker, o) for o in ("bad_route", "no_session", "handed_over")}
    openings = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not a route
        encode_route("0" * 32),  # a route to no session
        encode_route(alice.sess.session_id)[:-3],  # a route cut short: the clock runs out
        b"",  # nothing at all: the clock runs out
    ]
    for opening in openings:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(opening)
            assert _closed_by_peer(sock), opening
    # a route trickled in a byte at a time: the clock counts all of it, not each byte
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        route, started = encode_route(alice.sess.session_id), time.monotonic()
        with pytest.raises(OSError):
            for i in range(len(route)):
                sock.sendall(route[i:i + 1])
                time.sleep(0.1)
        assert _closed_by_peer(sock) and time.monotonic() - started < 3.0
    # a route longer than any: refused at its length byte
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GENTF-ROUTE/1" + bytes([200]) + b"a" * 200)
        assert _closed_by_peer(sock)
    after = {o: _count(shared_worker, o) for o in before}
    assert after == {"bad_route": before["bad_route"] + 5,
                     "no_session": before["no_session"] + 1,
                     "handed_over": before["handed_over"]}
    _train_alike(alice, twin, [3], seed=9)
    assert alice.sess._transport._direct is not None
    for n in (alice, twin):
        n.sess.close()


def test_one_address_holds_at_most_its_share_of_the_route_slots(shared_worker, monkeypatch):
    from gentf_server.supervisor import shared_port

    monkeypatch.setattr(shared_port, "ROUTE_SECONDS", 20.0)
    alice = _Net(shared_worker.address, TOKEN_A, direct=True)
    twin = _Net(shared_worker.address, TOKEN_A, direct=False)
    port = shared_worker.shared_direct.port
    busy, bad = _count(shared_worker, "busy"), _count(shared_worker, "bad_route")
    silent = []
    try:
        for _ in range(shared_port.MAX_UNROUTED_PER_PEER + 1):  # from 127.0.0.2, saying nothing
            silent.append(socket.create_connection(("127.0.0.1", port), timeout=30,
                                                   source_address=("127.0.0.2", 0)))
        assert _closed_by_peer(silent[-1])  # one past the share: closed at once
        assert _count(shared_worker, "busy") == busy + 1
        alice.sess._transport._direct.close()  # another address still gets in
        _train_alike(alice, twin, [3], seed=8)
        assert alice.sess._transport._direct is not None
    finally:
        for sock in silent:
            sock.close()
    deadline = time.monotonic() + 10  # the held slots end as their connections do
    while _count(shared_worker, "bad_route") < bad + len(silent) - 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for n in (alice, twin):
        n.sess.close()


def test_a_hand_over_of_something_else_leaves_the_door_serving(shared_worker):
    alice = _Net(shared_worker.address, TOKEN_A, direct=True)
    process = shared_worker.supervisor.owner_process(
        shared_worker.door.auth.owner([("authorization", f"Bearer {TOKEN_A}")]))
    read_end, write_end = os.pipe()  # not a socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
            unix.settimeout(30)
            unix.connect(process.direct_handoff)
            socket.send_fds(unix, [b"c"], [read_end])
            assert unix.recv(1) == b""  # refused: no acknowledgement
    finally:
        os.close(read_end)
        os.close(write_end)
    alice.sess._transport._direct.close()  # the next call opens a new connection
    np.testing.assert_allclose(alice.f(np.ones((2, 5))).sum(axis=1), [1.0, 1.0], rtol=1e-12)
    assert alice.sess._transport._direct is not None
    alice.sess.close()


def test_a_killed_process_behind_the_shared_port_sends_the_client_back_with_aborted(
        shared_worker):
    bob = _Net(shared_worker.address, TOKEN_B, direct=True)
    xs = np.ones((2, 5))
    bob.f(xs)
    bob.sess._transport._direct.close()  # the next call opens a connection: routed to nowhere
    _kill_owners_process(shared_worker, TOKEN_B)
    with pytest.raises(errors.AbortedError, match=r"session process died: signal 9 \(SIGKILL\)"):
        bob.f(xs)
    assert bob.sess._transport.direct_address == ""  # back to the front door for good
    again = _Net(shared_worker.address, TOKEN_B, direct=True)
    assert again.sess._transport.direct_address.endswith(f":{shared_worker.shared_direct.port}")
    np.testing.assert_allclose(again.f(xs).sum(axis=1), [1.0, 1.0], rtol=1e-12)
    assert again.sess._transport._direct is not None
    for n in (again, bob):
        n.sess.close()


def test_a_named_session_recovers_behind_the_shared_port_under_its_new_route(tmp_path):
    from gentf_server.service.server import WorkerConfig, background_server

    config = WorkerConfig(port=0, isolation="process", tokens=(TOKEN_A,), warm_processes=0,
                          direct_port=0, state_dir=str(tmp_path), checkpoint_seconds=0)
    with background_server(config) as server:
        net = _Net(server.address, TOKEN_A, direct=True, name="shared-durable")
        rng = np.random.default_rng(6)
        xs, grad = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
        net.step(xs, grad)
        W1, b1 = net.values()
        transport = net.sess._transport
        first_route, first_address = transport.direct_route, transport.direct_address
        _kill_owners_process(server, TOKEN_A)
        W2, b2 = net.values()  # re-created from its checkpoint, on a new process
        np.testing.assert_array_equal(W2, W1)
        np.testing.assert_array_equal(b2, b1)
        assert transport.direct_address == first_address  # the same port ...
        assert transport.direct_route not in ("", first_route)  # ... the new session's route
        net.step(xs, grad)
        assert transport._direct is not None
        net.sess.delete()


def test_a_port_that_cannot_be_reached_sends_calls_through_the_front_door():
    from gentf_server.service.server import WorkerConfig, background_server

    config = WorkerConfig(port=0, isolation="process", warm_processes=0, direct_port=0)
    with background_server(config) as server:
        server.shared_direct.close()  # offered, but nobody listens: connections are refused
        net = _Net(server.address, None, direct=True)
        front = _Net(server.address, None, direct=False)
        _train_alike(net, front, [3], seed=4)
        assert net.sess._transport.direct_address == ""
        for n in (net, front):
            n.sess.close()


def test_the_shared_port_over_tls(certificate):
    import ssl

    from gentf_server.service.server import WorkerConfig, background_server

    cert, key = certificate
    config = WorkerConfig(port=0, isolation="process", tokens=(TOKEN_A,), warm_processes=0,
                          direct_port=0, tls_cert=cert.read_bytes(), tls_key=key.read_bytes())
    with background_server(config) as server:
        net = _Net(server.address, TOKEN_A, direct=True, root_certificates=str(cert))
        front = _Net(server.address, TOKEN_A, direct=False, root_certificates=str(cert))
        _train_alike(net, front, [3, 3000], seed=12)
        assert net.sess._transport._direct is not None
        port, route = server.shared_direct.port, net.sess.session_id
        tls = ssl.create_default_context(cafile=str(cert))
        sock, code, _ = _routed_hello(port, route, TOKEN_A, tls)
        sock.close()
        assert code == "OK"
        # plaintext after the route gets nowhere: the process wants TLS
        with pytest.raises(OSError):  # a TLS alert at most, then a hang-up: no reply
            _routed_hello(port, route, TOKEN_A)
        for n in (net, front):
            n.sess.close()


def test_a_client_that_sends_no_routes_is_offered_the_front_door(shared_worker):
    import grpc
    from gentf.v1 import worker_pb2, worker_pb2_grpc

    with grpc.insecure_channel(shared_worker.address) as channel:
        stub = worker_pb2_grpc.WorkerStub(channel)
        auth = (("authorization", f"Bearer {TOKEN_A}"),)
        for routes in (False, True):
            reply = stub.CreateSession(worker_pb2.CreateSessionRequest(
                routes_direct_calls=routes), metadata=auth)
            if routes:  # the shared port, and the session's route
                assert reply.direct_address == f":{shared_worker.shared_direct.port}"
                assert reply.direct_route == reply.session_id
            else:  # as an older client would: nothing it would misread
                assert (reply.direct_address, reply.direct_route) == ("", "")
            stub.CloseSession(worker_pb2.CloseSessionRequest(session_id=reply.session_id),
                              metadata=auth)


def test_the_default_is_direct_and_gentf_direct_0_says_no(shared_worker, monkeypatch):
    monkeypatch.setenv("GENTF_DIRECT", "0")
    off = _Net(shared_worker.address, TOKEN_A, direct=None)
    monkeypatch.delenv("GENTF_DIRECT")
    on = _Net(shared_worker.address, TOKEN_A, direct=None)
    xs = np.ones((1, 5))
    np.testing.assert_array_equal(off.f(xs), on.f(xs))
    assert off.sess._transport._direct is None and on.sess._transport._direct is not None
    for n in (off, on):
        n.sess.close()


@pytest.mark.parametrize("argv, env, message", [
    (["--isolation", "none", "--direct-port", "0"], {}, "--direct-port needs --isolation process"),
    (["--direct-port", "0", "--advertise-host", "127.0.0.1", "--direct-ports", "9000-9001"], {},
     "choose one of the two"),
    (["--direct-port", "70000"], {}, "a port is 0-65535"),
    ([], {"GENTF_DIRECT_PORT": "abc"}, "--direct-port: invalid int value"),
])
def test_direct_port_flags_are_checked(argv, env, message):
    proc = subprocess.run([sys.executable, "-m", "gentf_server", "--port", "0", *argv],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**__import__("os").environ, **env})
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]


def test_a_taken_direct_port_stops_the_worker_naming_it():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "gentf_server", "--host", "127.0.0.1",
                               "--port", "0", "--direct-port", str(port), "--warm-processes",
                               "0"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{port} for --direct-port" in proc.stderr
