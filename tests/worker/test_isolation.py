"""Session processes, owners and tokens, on a real worker with process isolation.

Each owner's sessions run in a child process of the worker: a crash there (a real signal
sent to the real process) costs that owner its sessions and nothing else; a slow call
holds up nobody else; another owner's token sees none of it. Real gRPC on loopback.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from gentf import TFFunction, errors, tf
from gentf.graph import Graph
from gentf.remote._transport import Transport
from gentf.v1 import worker_pb2
from gentf.wire import decode_tensor, fill_tensor
from slow_graphs import slow_chain

TOKEN_A = "token-of-alice-0123456789abcdef"
TOKEN_B = "token-of-bob-0123456789abcdef012"
TOKEN_C = "token-of-carol-0123456789abcdef0"
_ALL_SESSION_METHODS = ("RenewLease", "ExtendGraph", "Construct", "Generate", "ChoiceGradients",
                        "AccumulateParamGradients", "RunOp", "Batch", "CloseSession")


@pytest.fixture(scope="module")
def iso_worker():
    """A worker with process isolation, two owners' tokens and metrics."""
    from gentf_server.service.server import WorkerConfig, background_server

    config = WorkerConfig(port=0, isolation="process", tokens=(TOKEN_A, TOKEN_B, TOKEN_C),
                          warm_processes=2, metrics_port=0, idle_process_seconds=1.0, max_message_bytes=64 << 20)
    with background_server(config) as server:
        yield server


def _owner(server, token):
    """The session process serving ``token``'s owner."""
    from gentf_server.service.auth import Authenticator

    owner = Authenticator([token]).owner([("authorization", f"Bearer {token}")])
    return server.supervisor.owner_process(owner)


class _Model:
    """A session of one owner with a linear TFFunction f(x) = x @ W and an SGD step."""

    def __init__(self, address, token):
        self.graph = Graph()
        with self.graph.as_default():
            self.sess = tf.Session(address, graph=self.graph, token=token)
            self.x = tf.placeholder(tf.float64, shape=(None, 3), name="x")
            self.W = tf.Variable(np.arange(6.0).reshape(3, 2) / 10, name="W")
            self.f = TFFunction([self.W], [self.x], tf.matmul(self.x, self.W), self.sess)
            from gentf import get_param_grad_tf_var, reset_param_grads_tf_op

            self.step = tf.group(
                tf.train.GradientDescentOptimizer(0.5).apply_gradients(
                    [(tf.negative(get_param_grad_tf_var(self.f, self.W)), self.W)]))
            self.reset = reset_param_grads_tf_op(self.f)

    def train_step(self, xs):
        from gentf import accumulate_param_gradients, choicemap, generate, runtf

        trace, _ = generate(self.f, (xs,), choicemap())
        accumulate_param_gradients(trace, np.ones((len(xs), 2)), 1.0)
        runtf(self.f, self.step)
        runtf(self.f, self.reset)

    def weights(self):
        return self.sess.run(self.W)


def test_no_token_or_a_wrong_token_is_unauthenticated_but_health_is_open(iso_worker):
    for token in (None, "not-a-token-of-this-worker-at-all"):
        transport = Transport(iso_worker.address, token=token)
        try:
            with pytest.raises(errors.UnauthenticatedError, match="token"):
                transport.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest())
            with pytest.raises(errors.UnauthenticatedError):
                transport.call("CreateSession", worker_pb2.CreateSessionRequest())
        finally:
            transport.close()
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(iso_worker.address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                           timeout=30).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(errors.UnauthenticatedError):
        tf.Session(iso_worker.address, graph=Graph(), token="wrong-token-0123456789")


def _request_for(method, session_id):
    t = worker_pb2
    if method == "Batch":
        return t.BatchRequest(session_id=session_id, calls=[t.BatchCall(
            run_op=t.RunOpRequest(session_id=session_id, fetches=["W"]))])
    if method == "RunOp":
        return t.RunOpRequest(session_id=session_id, fetches=["W"], targets=["W/Assign"])
    if method in ("ChoiceGradients", "AccumulateParamGradients"):
        req = t.GradientRequest(session_id=session_id, function_id="f1", scale_factor=1.0)
        fill_tensor(req.args.add(), np.ones((1, 3)))
        fill_tensor(req.retval_grad, np.ones((1, 2)))
        return req
    if method == "Generate":
        req = t.GenerateRequest(session_id=session_id, function_id="f1")
        fill_tensor(req.args.add(), np.ones((1, 3)))
        return req
    if method == "Construct":
        return t.ConstructRequest(session_id=session_id, params=["W"], inputs=["x"], output="MatMul")
    if method == "ExtendGraph":
        return t.ExtendGraphRequest(session_id=session_id)
    return getattr(t, f"{method}Request")(session_id=session_id)


def test_every_rpc_on_another_owners_session_is_not_found(iso_worker):
    alice = _Model(iso_worker.address, TOKEN_A)
    xs = np.ones((4, 3))
    before = alice.weights()
    np.testing.assert_array_equal(alice.f(xs), xs @ before)
    bob = Transport(iso_worker.address, token=TOKEN_B)
    try:
        for method in _ALL_SESSION_METHODS:
            with pytest.raises(errors.NotFoundError, match="no session"):
                bob.call(method, _request_for(method, alice.sess.session_id))
    finally:
        bob.close()
    np.testing.assert_array_equal(alice.weights(), before)
    np.testing.assert_array_equal(alice.f(xs), xs @ before)
    alice.sess.close()


def test_killing_one_owners_process_leaves_the_other_exact(iso_worker):
    alice = _Model(iso_worker.address, TOKEN_A)
    bob = _Model(iso_worker.address, TOKEN_B)
    xs = np.linspace(-1, 1, 12).reshape(4, 3)
    W = alice.weights()
    alice_proc, bob_proc = _owner(iso_worker, TOKEN_A), _owner(iso_worker, TOKEN_B)
    assert alice_proc.pid != bob_proc.pid and alice_proc.pid != os.getpid()
    restarts = _metric(iso_worker, "gentf_session_process_restarts_total")
    for step in range(6):
        if step == 3:
            os.kill(bob_proc.pid, signal.SIGSEGV)
            deadline = time.monotonic() + 30
            while bob_proc.alive and time.monotonic() < deadline:
                time.sleep(0.05)
        alice.train_step(xs)
        W = W + 0.5 * xs.T @ np.ones((4, 2))  # gradient of sum(x @ W) is x^T 1
        np.testing.assert_allclose(alice.weights(), W, rtol=0, atol=1e-12)
    with pytest.raises(errors.AbortedError, match=r"session process died: signal 11 \(SIGSEGV\)") as info:
        bob.f(xs)
    assert bob.sess.session_id in str(info.value)
    with pytest.raises(errors.NotFoundError):  # said once; then the session is simply gone
        bob.sess.renew_lease()
    assert _metric(iso_worker, "gentf_session_process_restarts_total") == restarts + 1
    again = _Model(iso_worker.address, TOKEN_B)  # Bob starts over in a new process
    np.testing.assert_allclose(again.f(xs), xs @ again.weights(), rtol=1e-12)
    assert _owner(iso_worker, TOKEN_B).pid != bob_proc.pid
    np.testing.assert_allclose(alice.weights(), W, rtol=0, atol=1e-12)
    for m in (alice, again):
        m.sess.close()


def test_a_slow_call_holds_up_no_other_owner(iso_worker):
    """While one owner's long matmul chain runs, another owner's calls, a CreateSession and a
    health check all finish before it does."""
    graph = Graph()
    with graph.as_default():
        slow = tf.Session(iso_worker.address, graph=graph, token=TOKEN_A)
        m = tf.placeholder(tf.float32, shape=(1200, 1200), name="m")
        y = m
        for _ in range(40):
            y = tf.tanh(tf.matmul(y, m))
        total = tf.reduce_sum(y)
    bob = _Model(iso_worker.address, TOKEN_B)
    done = threading.Event()
    slow_time = []

    def run_slow():
        t0 = time.monotonic()
        slow.run(total, feed_dict={m: np.full((1200, 1200), 1e-3, np.float32)})
        slow_time.append(time.monotonic() - t0)
        done.set()

    thread = threading.Thread(target=run_slow)
    thread.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    xs = np.ones((2, 3))
    np.testing.assert_array_equal(bob.f(xs), xs @ bob.weights())
    other = Transport(iso_worker.address, token=TOKEN_B)
    sid = other.call("CreateSession", worker_pb2.CreateSessionRequest()).session_id
    other.call("CloseSession", worker_pb2.CloseSessionRequest(session_id=sid))
    other.close()
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(iso_worker.address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="gentf.v1.Worker"), timeout=30).status
    assert health == health_pb2.HealthCheckResponse.SERVING
    bob_time = time.monotonic() - t0
    finished_first = not done.is_set()
    thread.join(timeout=300)
    assert slow_time, "the slow call did not finish"
    assert finished_first, (bob_time, slow_time)
    assert bob_time < slow_time[0]
    slow.close()
    bob.sess.close()


def test_a_call_over_the_deadline_is_deadline_exceeded_and_stops_its_process(iso_worker):
    door_deadline = iso_worker.door.call_deadline_seconds
    graph = Graph()
    with graph.as_default():
        sess = tf.Session(iso_worker.address, graph=graph, token=TOKEN_A)
        m, total = slow_chain()
        two = tf.constant(2.0)
        sess.run(two)  # the graph is on the worker before the deadline shrinks
    iso_worker.door.call_deadline_seconds = 0.5
    try:
        with pytest.raises(errors.DeadlineExceededError, match="--call-deadline-seconds"):
            sess.run(total, feed_dict={m: np.zeros((1500, 1500), np.float32)})
    finally:
        iso_worker.door.call_deadline_seconds = door_deadline
    with pytest.raises(errors.AbortedError, match="deadline"):
        sess.run(two)
    alice = _Model(iso_worker.address, TOKEN_A)  # the owner gets a fresh process
    np.testing.assert_array_equal(alice.f(np.ones((1, 3))), np.ones((1, 3)) @ alice.weights())
    alice.sess.close()


def test_undecodable_requests_are_invalid_argument(iso_worker):
    rng = np.random.default_rng(7)
    with grpc.insecure_channel(iso_worker.address) as channel:
        metadata = (("authorization", f"Bearer {TOKEN_A}"),)
        statuses = []
        for method in ("CreateSession", "ExtendGraph", "RunOp", "Generate", "Batch"):
            call = channel.unary_unary(f"/gentf.v1.Worker/{method}")
            for _ in range(5):
                payload = rng.bytes(int(rng.integers(1, 64)))
                try:
                    call(payload, metadata=metadata, timeout=60)
                    statuses.append("OK")
                except grpc.RpcError as exc:
                    statuses.append(exc.code().name)
    assert set(statuses) <= {"INVALID_ARGUMENT", "NOT_FOUND", "OK"}, statuses
    assert "INVALID_ARGUMENT" in statuses


def test_reflection_lists_the_services(iso_worker):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    class _Auth(grpc.UnaryUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
        def _add(self, details):
            return details._replace(metadata=[("authorization", f"Bearer {TOKEN_A}")])

        def intercept_unary_unary(self, continuation, details, request):
            return continuation(self._add(details), request)

        def intercept_stream_stream(self, continuation, details, requests):
            return continuation(self._add(details), requests)

    with grpc.insecure_channel(iso_worker.address) as raw:
        channel = grpc.intercept_channel(raw, _Auth())
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert "gentf.v1.Worker" in services and "grpc.health.v1.Health" in services
    with grpc.insecure_channel(iso_worker.address) as raw:
        with pytest.raises(grpc.RpcError) as info:
            ProtoReflectionDescriptorDatabase(raw).get_services()
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _metric(server, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=30) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_rpcs_by_method_and_status(iso_worker):
    before = _metric(iso_worker, 'gentf_rpcs_total{code="NOT_FOUND",method="RenewLease"}')
    t = Transport(iso_worker.address, token=TOKEN_A)
    try:
        with pytest.raises(errors.NotFoundError):
            t.call("RenewLease", worker_pb2.RenewLeaseRequest(session_id="nope"))
    finally:
        t.close()
    after = _metric(iso_worker, 'gentf_rpcs_total{code="NOT_FOUND",method="RenewLease"}')
    assert after == before + 1
    assert _metric(iso_worker, "gentf_session_processes") >= 1
    assert _metric(iso_worker, 'gentf_rpc_seconds_count{method="RenewLease"}') >= 1


def test_a_closed_owners_last_session_ends_its_process_once_idle(iso_worker):
    alice = _Model(iso_worker.address, TOKEN_C)
    proc = _owner(iso_worker, TOKEN_C)
    pid = proc.pid
    alice.sess.close()
    deadline = time.monotonic() + 30
    while proc.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not proc.alive
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.05)


def test_client_refuses_a_worker_of_an_unknown_wire_revision():
    from gentf.remote._session import _check_wire_version
    from gentf.wire import WIRE_VERSION

    info = worker_pb2.GetWorkerInfoResponse(wire_version=WIRE_VERSION + 5,
                                            min_client_wire_version=WIRE_VERSION + 1)
    with pytest.raises(errors.WireVersionError,
                       match=f"revision {WIRE_VERSION + 5}.*revision {WIRE_VERSION}"):
        _check_wire_version(info, "host:1")
    _check_wire_version(worker_pb2.GetWorkerInfoResponse(wire_version=WIRE_VERSION,
                                                          min_client_wire_version=1), "host:1")


def test_sessions_get_their_values_back_through_the_front_door(iso_worker):
    """Big values cross the Unix socket whole: 20 MB out and back, exact."""
    t = Transport(iso_worker.address, token=TOKEN_B)
    try:
        sid = t.call("CreateSession", worker_pb2.CreateSessionRequest()).session_id
        from gentf.graph import Graph as G

        g = G()
        with g.as_default():
            x = tf.placeholder(tf.float64, shape=(None,), name="x")
            y = tf.identity(x, name="y")
        req = worker_pb2.ExtendGraphRequest(session_id=sid, nodes=[op.node_def() for op in g.operations])
        t.call("ExtendGraph", req)
        value = np.random.default_rng(0).standard_normal(2_500_000)
        run = worker_pb2.RunOpRequest(session_id=sid, fetches=["y"])
        fill_tensor(run.feeds["x"], value)
        out = t.call("RunOp", run)
        np.testing.assert_array_equal(decode_tensor(out.fetched[0]), value)
        del x, y
        t.call("CloseSession", worker_pb2.CloseSessionRequest(session_id=sid))
    finally:
        t.close()
