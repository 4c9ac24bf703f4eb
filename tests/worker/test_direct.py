"""Direct calls (``--advertise-host``; clients use them unless ``GENTF_DIRECT=0``): a client
sends its session's hot calls straight to its session process's TCP door. Real workers, real processes, real
sockets: the values match the front door's exactly, the door checks what the front door
checks (token, owner, message cap, connection cap, deadline, TLS), and a killed process
sends the client back to the front door with the same ABORTED it would have had there."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import numpy as np
import pytest
from gentf import TFFunction, errors, tf
from gentf.graph import Graph
from gentf.v1 import worker_pb2
from gentf.wire._frames import (
    ATTACHED,
    CONTROL_HELLO,
    REPLY_HEADER,
    attachment_frames,
    decode_reply_meta,
    encode_request_header,
    recv_exactly,
    send_frames,
)
from slow_graphs import slow_chain

TOKEN_A = "direct-alice-0123456789abcdef01"
TOKEN_B = "direct-bob-0123456789abcdef0123"


@pytest.fixture(scope="module")
def direct_worker():
    """A worker with process isolation, two owners' tokens and direct doors."""
    from gentf_server.service.server import WorkerConfig, background_server

    config = WorkerConfig(port=0, isolation="process", tokens=(TOKEN_A, TOKEN_B),
                          warm_processes=1, advertise_host="127.0.0.1",
                          max_message_bytes=8 << 20, max_calls_per_owner=4,
                          idle_process_seconds=1.0)
    with background_server(config) as server:
        yield server


class _Net:
    """A session with f(x) = softmax(x W + b) as a TFFunction and an SGD update."""

    def __init__(self, address, token, direct, name=None, root_certificates=None):
        from gentf import get_param_grad_tf_var, reset_param_grads_tf_op

        rng = np.random.default_rng(7)
        self.graph = Graph()
        with self.graph.as_default():
            self.sess = tf.Session(address, graph=self.graph, token=token, direct=direct,
                                   name=name, root_certificates=root_certificates)
            self.x = tf.placeholder(tf.float64, shape=(None, 5), name="x")
            self.W = tf.Variable(rng.normal(size=(5, 3)), name="W")
            self.b = tf.Variable(np.zeros(3), name="b")
            out = tf.nn.softmax(tf.add(tf.matmul(self.x, self.W), self.b))
            self.f = TFFunction([self.W, self.b], [self.x], out, self.sess)
            grads = [(tf.negative(get_param_grad_tf_var(self.f, v)), v) for v in (self.W, self.b)]
            self.update = tf.group(tf.train.GradientDescentOptimizer(0.1).apply_gradients(grads))
            self.reset = reset_param_grads_tf_op(self.f)

    def step(self, xs, grad):
        from gentf import accumulate_param_gradients, choicemap, generate, runtf

        trace, _ = generate(self.f, (xs,), choicemap())
        arg_grads = accumulate_param_gradients(trace, grad, 1.0)
        runtf(self.f, self.update)
        runtf(self.f, self.reset)
        return trace.get_retval(), arg_grads

    def values(self):
        return self.sess.run([self.W, self.b])


def _train_alike(one, other, rows, seed):
    """Trains two nets with the same steps (one for each count in ``rows``) and asserts
    that their return values, argument gradients and final variables are the same bits."""
    rng = np.random.default_rng(seed)
    for n in rows:
        xs, grad = rng.normal(size=(n, 5)), rng.normal(size=(n, 3))
        out_1, args_1 = one.step(xs, grad)
        out_2, args_2 = other.step(xs, grad)
        np.testing.assert_array_equal(out_1, out_2)
        np.testing.assert_array_equal(args_1[0], args_2[0])
    for a, b in zip(one.values(), other.values()):
        np.testing.assert_array_equal(a, b)


def _hello(address, token, first_index=CONTROL_HELLO):
    """A raw connection to a direct door that said hello with ``token``; returns (socket,
    status name, message)."""
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    payload = json.dumps({"token": token}).encode()
    send_frames(sock, [encode_request_header(first_index, len(payload)), payload])
    code, message = _reply(sock)
    return sock, code, message


def _reply(sock):
    header = bytes(recv_exactly(sock, REPLY_HEADER.size))
    _, meta_len, reply_len = REPLY_HEADER.unpack(header)
    meta = bytes(recv_exactly(sock, meta_len))
    recv_exactly(sock, reply_len)
    code, message, _ = decode_reply_meta(header, meta)
    return code, message


def test_direct_calls_give_the_front_doors_values_exactly(direct_worker):
    direct = _Net(direct_worker.address, TOKEN_A, direct=True)
    front = _Net(direct_worker.address, TOKEN_A, direct=False)
    transport = direct.sess._transport
    assert transport.direct_address.startswith("127.0.0.1:")
    assert front.sess._transport.direct_address == ""
    _train_alike(direct, front, [6] * 4, seed=3)
    # every hot call took the direct route: the route is still there (none failed over)
    assert transport.direct_address and transport._direct is not None
    for net in (direct, front):
        net.sess.close()


def test_big_tensors_travel_as_blobs_through_the_direct_door_exactly(direct_worker):
    graph = Graph()
    with graph.as_default():
        sess = tf.Session(direct_worker.address, graph=graph, token=TOKEN_A, direct=True)
        m = tf.placeholder(tf.float32, shape=(None,), name="m")
        doubled = tf.multiply(m, 2.0)
        rng = np.random.default_rng(1)
        big = rng.normal(size=3 << 20).astype(np.float32)  # 12 MiB: over the 8 MiB cap
        calls = sess._transport.calls
        before = (calls["PutBlob"], calls["GetBlob"])
        got = sess.run(doubled, feed_dict={m: big})  # up as a blob, down as a blob
        assert (calls["PutBlob"], calls["GetBlob"]) > before
        assert calls["PutBlob"] > before[0] and calls["GetBlob"] > before[1]
        assert sess._transport._direct is not None  # no call fell back to the front door
        np.testing.assert_array_equal(got, big * np.float32(2.0))
        sess.close()


def test_a_blob_frame_over_the_cap_ends_the_connection(direct_worker):
    from gentf.wire._blobs import chunk_frames
    from gentf.wire._frames import CONTROL_PUT_BLOB, FRAME_HEADER

    alice = _Net(direct_worker.address, TOKEN_A, direct=True)
    sock, code, _ = _hello(alice.sess._transport.direct_address, TOKEN_A)
    with sock:
        assert code == "OK"
        (head, piece), = chunk_frames(np.zeros(16, np.uint8), session_id=alice.sess.session_id,
                                      blob_id="b" * 16, chunk_bytes=64)
        first = bytes(head) + bytes(piece)
        send_frames(sock, [encode_request_header(CONTROL_PUT_BLOB, len(first)), first,
                           FRAME_HEADER.pack(1 << 40)])
        sock.settimeout(30)
        assert sock.recv(64) == b""  # no reply: the door hung up
    np.testing.assert_allclose(alice.f(np.ones((2, 5))).sum(axis=1), [1.0, 1.0], rtol=1e-12)
    alice.sess.close()


def test_big_tensors_travel_beside_the_message_as_attachments_exactly(direct_worker):
    """Tensors of 64 KiB or more go as attachments both ways (the serialized request and
    reply name them and do not hold them): arguments alone or in a deferred Batch, return
    values, argument gradients and fetches. The values equal the front door's and numpy's,
    and nothing received is left over once decoded."""
    from gentf import (
        accumulate_param_gradients,
        accumulate_param_gradients_only,
        choicemap,
        generate,
        runtf,
    )
    from gentf.remote import _direct
    from gentf.remote._transport import _fetched

    direct = _Net(direct_worker.address, TOKEN_A, direct=True)
    front = _Net(direct_worker.address, TOKEN_A, direct=False)
    route = direct.sess._transport._direct
    sent = []
    original = route.call

    def recording(method, request, timeout, attachments=()):
        reply = original(method, request, timeout, attachments)
        sent.append((method, request.ByteSize(), [memoryview(a).nbytes for _, a in attachments],
                     reply.ByteSize(), sorted(b.nbytes for b in _direct._RECEIVED.by_id.values())))
        return reply

    route.call = recording
    rng = np.random.default_rng(11)
    xs = rng.normal(size=(4000, 5))  # 160,000 bytes
    grad = rng.normal(size=(4000, 3))  # 96,000 bytes: the return value's size too
    for net in (direct, front):
        trace, _ = generate(net.f, (xs,), choicemap())
        accumulate_param_gradients_only(trace, grad, 1.0)  # deferred
        net.last = net.f(xs)  # one Batch: the accumulation, then this forward
        net.arg_grads = accumulate_param_gradients(trace, grad, 1.0)
        runtf(net.f, net.update)
        with net.graph.as_default():
            doubled = tf.multiply(net.x, 2.0)
        net.fetched = net.sess.run({"xs2": doubled}, feed_dict={net.x: xs})
    assert sent[0] == ("Generate", sent[0][1], [xs.nbytes], sent[0][3], [grad.nbytes])
    assert sent[1] == ("Batch", sent[1][1], [grad.nbytes, xs.nbytes], sent[1][3], [grad.nbytes])
    assert sent[2][0] == "AccumulateParamGradients" and sent[2][4] == [xs.nbytes]
    assert sent[-1][0] == "RunOp" and sent[-1][2:] == ([xs.nbytes], sent[-1][3], [xs.nbytes])
    assert all(request_bytes < 1000 and reply_bytes < 1000  # (ExtendGraph carries nodes)
               for method, request_bytes, _, reply_bytes, _ in sent if method != "ExtendGraph")
    assert not _direct._RECEIVED.by_id and not _fetched  # every attachment was decoded
    np.testing.assert_array_equal(direct.last, front.last)
    np.testing.assert_array_equal(direct.arg_grads[0], front.arg_grads[0])
    np.testing.assert_array_equal(direct.fetched["xs2"], xs * 2.0)
    np.testing.assert_array_equal(front.fetched["xs2"], xs * 2.0)
    for a, b in zip(direct.values(), front.values()):
        np.testing.assert_array_equal(a, b)
    W, b = direct.values()
    direct.last = direct.f(xs)
    logits = xs @ W + b
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(direct.last, expected / expected.sum(axis=1, keepdims=True),
                               rtol=1e-12)
    del route.call
    for net in (direct, front):
        net.sess.close()


def _attached_generate(sock, alice, xs, attachments, blob_id="a" * 32, index="Generate"):
    """Sends a Generate of alice's function on ``xs`` named by ``blob_id``, with
    ``attachments`` beside it, on a greeted raw connection."""
    request = worker_pb2.GenerateRequest(session_id=alice.sess.session_id,
                                         function_id=alice.f.function_id)
    arg = request.args.add()
    arg.dtype = 2  # DT_DOUBLE
    arg.shape[:] = xs.shape
    arg.blob_id = blob_id
    payload = request.SerializeToString()
    header = encode_request_header(index, len(payload))
    header = (int.from_bytes(header[:2], "little") | ATTACHED).to_bytes(2, "little") + header[2:]
    send_frames(sock, [header, payload, *attachment_frames(attachments)])


def test_the_door_checks_attachments_and_bad_ones_change_nothing(direct_worker):
    from gentf.v1 import worker_pb2 as pb
    from gentf.wire import decode_tensor
    from gentf.wire._frames import ATTACHMENT_HEADER

    alice = _Net(direct_worker.address, TOKEN_A, direct=True)
    address = alice.sess._transport.direct_address
    W, b = alice.values()
    xs = np.random.default_rng(2).normal(size=(3, 5))
    expected = alice.f(xs)
    sock, code, _ = _hello(address, TOKEN_A)
    with sock:
        assert code == "OK"
        for _ in range(2):  # the same id again: the first call let go of it
            _attached_generate(sock, alice, xs, [("a" * 32, xs.tobytes())])
            header = bytes(recv_exactly(sock, REPLY_HEADER.size))
            _, meta_len, reply_len = REPLY_HEADER.unpack(header)
            assert decode_reply_meta(header, bytes(recv_exactly(sock, meta_len)))[0] == "OK"
            reply = pb.GenerateResponse.FromString(bytes(recv_exactly(sock, reply_len)))
            np.testing.assert_array_equal(decode_tensor(reply.retval), expected)
        refused = [
            ([("a" * 32, xs.tobytes()), ("a" * 32, xs.tobytes())], "twice"),  # a repeated id
            ([("b" * 32, xs.tobytes())], "not on this side"),  # the one named is not there
            ([("a" * 32, xs.tobytes()[:-8])], "needs 120 bytes"),  # too few bytes for the shape
            ([("a" * 32, xs.tobytes()), ("c" * 32, b"unused")], None),  # an unused one: fine
        ]
        for attachments, words in refused:
            _attached_generate(sock, alice, xs, attachments)
            code, message = _reply(sock)
            if words is None:
                assert code == "OK"
            else:
                assert code == "INVALID_ARGUMENT" and words in message, (code, message)
        # attachments adding up to more than the message cap: refused unread, and hung up
        header = bytes(encode_request_header("Generate", 0))
        header = (int.from_bytes(header[:2], "little") | ATTACHED).to_bytes(2, "little") + header[2:]
        send_frames(sock, [header, ATTACHMENT_HEADER.pack(4, 9 << 20)])
        code, message = _reply(sock)
        assert code == "RESOURCE_EXHAUSTED" and "--max-message-mb" in message
        assert sock.recv(1) == b""
    sock, code, _ = _hello(address, TOKEN_A)
    with sock:  # a blob stream takes no attachments: refused, and hung up
        _attached_generate(sock, alice, xs, [("a" * 32, xs.tobytes())], index=1001)
        code, message = _reply(sock)
        assert code == "INVALID_ARGUMENT" and "no attachments" in message
        try:  # hung up, with the attachments unread (a reset) or read (an end of stream)
            assert sock.recv(1) == b""
        except ConnectionResetError:
            pass
    for before, after in zip((W, b), alice.values()):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(alice.f(xs), expected)
    alice.sess.close()


def test_the_door_wants_the_owners_token_and_a_hello_first(direct_worker):
    alice = _Net(direct_worker.address, TOKEN_A, direct=True)
    address = alice.sess._transport.direct_address
    for token in ("", "not-a-token-0123456789abcdef", TOKEN_B):  # Bob's token is not Alice's
        sock, code, message = _hello(address, token)
        assert code == "UNAUTHENTICATED" and "owner" in message
        assert sock.recv(1) == b""  # and the door hangs up
        sock.close()
    generate = worker_pb2.GenerateRequest(session_id=alice.sess.session_id).SerializeToString()
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        send_frames(sock, [encode_request_header("Generate", len(generate)), generate])
        assert _reply(sock)[0] == "FAILED_PRECONDITION"
    sock, code, _ = _hello(address, TOKEN_A)
    with sock:
        assert code == "OK"
        for index in (1000, 1003, 1004, 1005, 2):  # control calls, a second hello, CreateSession
            send_frames(sock, [encode_request_header(index, 0)])
            code, message = _reply(sock)
            assert code == "UNIMPLEMENTED" and "front door" in message
        junk = b"\xff" * 64
        send_frames(sock, [encode_request_header("Generate", len(junk)), junk])
        assert _reply(sock)[0] == "INVALID_ARGUMENT"
        # a request over the message cap is refused before it is read, and the door hangs up
        send_frames(sock, [encode_request_header("Generate", 9 << 20)])
        code, message = _reply(sock)
        assert code == "RESOURCE_EXHAUSTED" and "--max-message-mb" in message
        assert sock.recv(1) == b""
    np.testing.assert_allclose(alice.f(np.ones((2, 5))).sum(axis=1), [1.0, 1.0], rtol=1e-12)
    alice.sess.close()


def test_an_owner_holds_at_most_its_share_of_connections(direct_worker):
    alice = _Net(direct_worker.address, TOKEN_A, direct=True)
    address = alice.sess._transport.direct_address
    alice.sess._transport._direct.close()  # the client's pooled connection counts too
    held = []
    try:
        for _ in range(4):  # --max-calls-per-owner 4
            sock, code, _ = _hello(address, TOKEN_A)
            held.append(sock)
            assert code == "OK"
        sock, code, message = _hello(address, TOKEN_A)
        sock.close()
        assert code == "RESOURCE_EXHAUSTED" and "--max-calls-per-owner" in message
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # the door sees the closed connections go
        sock, code, _ = _hello(address, TOKEN_A)
        sock.close()
        if code == "OK" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert code == "OK"
    alice.sess.close()


def _kill_owners_process(server, token):
    """SIGKILLs the session process of ``token``'s owner and waits until the worker saw it die."""
    process = server.supervisor.owner_process(
        server.door.auth.owner([("authorization", f"Bearer {token}")]))
    os.kill(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while process.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.alive


def test_a_killed_process_sends_the_client_back_with_aborted(direct_worker):
    bob = _Net(direct_worker.address, TOKEN_B, direct=True)
    xs = np.ones((2, 5))
    bob.f(xs)
    _kill_owners_process(direct_worker, TOKEN_B)
    with pytest.raises(errors.AbortedError, match=r"session process died: signal 9 \(SIGKILL\)"):
        bob.f(xs)
    assert bob.sess._transport.direct_address == ""  # back to the front door for good
    with pytest.raises(errors.NotFoundError):
        bob.sess.renew_lease()
    again = _Net(direct_worker.address, TOKEN_B, direct=True)
    assert again.sess._transport.direct_address not in ("", None)
    np.testing.assert_allclose(again.f(xs).sum(axis=1), [1.0, 1.0], rtol=1e-12)
    again.sess.close()
    bob.sess.close()


def test_a_named_session_recovers_onto_the_new_process_door(tmp_path):
    from gentf_server.service.server import WorkerConfig, background_server

    config = WorkerConfig(port=0, isolation="process", tokens=(TOKEN_A,), warm_processes=0,
                          advertise_host="127.0.0.1", state_dir=str(tmp_path),
                          checkpoint_seconds=0)
    with background_server(config) as server:
        net = _Net(server.address, TOKEN_A, direct=True, name="direct-durable")
        rng = np.random.default_rng(5)
        xs, grad = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
        net.step(xs, grad)
        W1, b1 = net.values()
        first = net.sess._transport.direct_address
        _kill_owners_process(server, TOKEN_A)
        W2, b2 = net.values()  # re-created from its checkpoint, on a new process
        np.testing.assert_array_equal(W2, W1)
        np.testing.assert_array_equal(b2, b1)
        assert net.sess._transport.direct_address not in ("", first)
        net.step(xs, grad)
        assert net.sess._transport._direct is not None
        net.sess.delete()


def test_direct_calls_keep_the_front_doors_lease(tmp_path):
    from gentf_server.service.server import WorkerConfig, background_server

    config = WorkerConfig(port=0, isolation="process", warm_processes=0,
                          advertise_host="127.0.0.1", default_lease_seconds=2.0)
    with background_server(config) as server:
        net = _Net(server.address, None, direct=True)
        xs = np.ones((1, 5))
        end = time.monotonic() + 5  # over twice the lease, in direct calls only
        while time.monotonic() < end:
            net.f(xs)
            time.sleep(0.2)
        assert server.supervisor.session_count() == 1
        net.sess.renew_lease()  # through the front door: still there
        time.sleep(4.5)  # no calls at all: the lease runs out on both sides
        with pytest.raises(errors.NotFoundError):
            net.f(xs)
        assert server.supervisor.session_count() == 0
        net.sess.close()


def test_a_direct_call_over_the_deadline_ends_its_process():
    from gentf_server.service.server import WorkerConfig, background_server

    config = WorkerConfig(port=0, isolation="process", warm_processes=0,
                          advertise_host="127.0.0.1", call_deadline_seconds=1.0)
    with background_server(config) as server:
        graph = Graph()
        with graph.as_default():
            sess = tf.Session(server.address, graph=graph, direct=True)
            m, total = slow_chain()
            two = tf.constant(2.0)
            sess.run(two)
            with pytest.raises(errors.AbortedError, match="ran over the per-call deadline"):
                sess.run(total, feed_dict={m: np.zeros((1500, 1500), np.float32)})
            assert sess._transport.direct_address == ""
            sess.close()


def test_direct_calls_over_tls(certificate):
    from gentf_server.service.server import WorkerConfig, background_server

    cert, key = certificate
    config = WorkerConfig(port=0, isolation="process", tokens=(TOKEN_A,), warm_processes=0,
                          advertise_host="127.0.0.1", tls_cert=cert.read_bytes(),
                          tls_key=key.read_bytes())
    with background_server(config) as server:
        net = _Net(server.address, TOKEN_A, direct=True, root_certificates=str(cert))
        front = _Net(server.address, TOKEN_A, direct=False, root_certificates=str(cert))
        rng = np.random.default_rng(11)
        for rows in (3, 3000):  # 3,000 rows: the arguments travel as attachments
            xs, grad = rng.normal(size=(rows, 5)), rng.normal(size=(rows, 3))
            out_d, _ = net.step(xs, grad)
            out_f, _ = front.step(xs, grad)
            np.testing.assert_array_equal(out_d, out_f)
        for a, b in zip(net.values(), front.values()):
            np.testing.assert_array_equal(a, b)
        assert net.sess._transport._direct is not None
        # plaintext to the TLS door gets nowhere
        host, port = net.sess._transport.direct_address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            payload = json.dumps({"token": TOKEN_A}).encode()
            send_frames(sock, [encode_request_header(CONTROL_HELLO, len(payload)), payload])
            with pytest.raises(OSError):  # a TLS alert at most, then a hang-up: no reply
                _reply(sock)
        for n in (net, front):
            n.sess.close()


def test_advertise_host_needs_process_isolation():
    import sys

    proc = subprocess.run([sys.executable, "-m", "gentf_server", "--port", "0", "--isolation",
                           "none", "--advertise-host", "127.0.0.1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "--advertise-host needs --isolation process" in proc.stderr
    for bad in ("9000", "9000-8000", "a-b", "0-10"):
        proc = subprocess.run([sys.executable, "-m", "gentf_server", "--port", "0",
                               "--advertise-host", "127.0.0.1", "--direct-ports", bad],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 2 and "--direct-ports" in proc.stderr, bad


def test_direct_ports_bounds_the_doors_port():
    from gentf_server.service.server import WorkerConfig, background_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        low = probe.getsockname()[1]
    taken = socket.socket()  # the range's first port is taken: the door takes the next
    taken.bind(("127.0.0.1", low))
    try:
        config = WorkerConfig(port=0, isolation="process", warm_processes=0,
                              advertise_host="127.0.0.1", direct_ports=(low, low + 1))
        with background_server(config) as server:
            net = _Net(server.address, None, direct=True)
            assert net.sess._transport.direct_address == f"127.0.0.1:{low + 1}"
            np.testing.assert_allclose(net.f(np.ones((1, 5))).sum(), 1.0, rtol=1e-12)
            net.sess.close()
    finally:
        taken.close()


_EMBEDDED_SCRIPT = """
import numpy as np
from gentf import TFFunction, tf
with tf.Graph().as_default():
    sess = tf.Session()
    x = tf.placeholder(tf.float64, shape=(None, 2), name="x")
    W = tf.Variable(np.array([[1.0, 2.0], [3.0, 4.0]]), name="W")
    f = TFFunction([W], [x], tf.matmul(x, W), sess)
    assert np.array_equal(f(np.eye(2)), [[1.0, 2.0], [3.0, 4.0]])
    print("DIRECT=" + sess._transport.direct_address + " " + sess._transport.direct_route)
    sess.close()
"""


@pytest.mark.parametrize("env_value, expect_direct", [(None, True), ("0", False)])
def test_the_embedded_worker_is_called_directly_unless_told_not_to(env_value, expect_direct):
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("GENTF_ADDRESS", "GENTF_TOKEN", "GENTF_DIRECT")}
    if env_value is not None:
        env["GENTF_DIRECT"] = env_value
    proc = subprocess.run([sys.executable, "-c", _EMBEDDED_SCRIPT], capture_output=True,
                          text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("DIRECT=")]
    address, _, route = line.removeprefix("DIRECT=").partition(" ")
    if expect_direct:  # through the embedded worker's shared direct port
        assert address.startswith("127.0.0.1:") and len(route) == 32
    else:
        assert (address, route) == ("", "")
