"""Bad input gets a precise status and a message naming the culprit, and changes nothing on
the worker: parameters, accumulators, the graph, functions and kept traces are as before."""

from __future__ import annotations

import numpy as np
import pytest
from gentf import (
    TFFunction,
    accumulate_param_gradients,
    choice_gradients,
    errors,
    get_param_grad_tf_var,
    runtf,
    select,
    simulate,
    tf,
)
from gentf.remote._transport import Transport
from gentf.v1 import graph_pb2, tensor_pb2, worker_pb2
from gentf.wire import fill_tensor

W0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
X0 = np.array([1.0, -1.0, 2.0])
K0 = np.array([10, 20], dtype=np.int32)
G0 = np.array([0.5, -2.0])


class Model:
    """y = W x + k (x: float64 (3,), k: int32 (2,)) and z = W x_batch^T (batch of unknown size),
    with accumulators already holding something, and a kept trace."""

    def __init__(self, session, core):
        self.session = session
        self.core = core
        self.W = tf.Variable(W0, name="W")
        self.x = tf.placeholder(tf.float64, shape=(3,), name="x")
        self.k = tf.placeholder(tf.int32, shape=(2,), name="k")
        y = tf.squeeze(tf.matmul(self.W, tf.expand_dims(self.x, axis=1)), axis=1)
        self.y = tf.add(y, tf.cast(self.k, tf.float64), name="y")
        self.f = TFFunction([self.W], [self.x, self.k], self.y, session)
        self.xb = tf.placeholder(tf.float64, shape=(None, 3), name="xb")
        self.fb = TFFunction([self.W], [self.xb], tf.matmul(self.xb, tf.transpose(self.W)), session)
        self.acc = get_param_grad_tf_var(self.f, self.W)
        self.acc_b = get_param_grad_tf_var(self.fb, self.W)
        self.trace = simulate(self.f, (X0, K0))
        accumulate_param_gradients(self.trace, G0, 1.0)
        self.trace_b = simulate(self.fb, (np.ones((4, 3)),))
        accumulate_param_gradients(self.trace_b, np.ones((4, 2)), 2.0)

    def state(self):
        core = self.core
        values = {n: np.array(core.variable_value(n), copy=True)
                  for n in (self.W.op.name, self.acc.op.name, self.acc_b.op.name)}
        return {
            "values": values,
            "nodes": list(core._graph.nodes),
            "functions": sorted(core._functions),
            "traces": sorted(core._traces._records),  # (use order may change)
            "trace_bytes": core._traces.nbytes,
        }

    def assert_unchanged(self, before):
        after = self.state()
        for name, value in before["values"].items():
            np.testing.assert_array_equal(after["values"][name], value, err_msg=f"{name!r} changed")
        assert after["nodes"] == before["nodes"]
        assert after["functions"] == before["functions"]
        assert after["traces"] == before["traces"]
        assert after["trace_bytes"] == before["trace_bytes"]
        # and the session still works
        np.testing.assert_allclose(self.f(X0, K0), W0 @ X0 + K0)


@pytest.fixture
def model(session, core_session):
    m = Model(session, core_session)
    np.testing.assert_allclose(runtf(m.f, m.acc), np.outer(G0, X0))
    np.testing.assert_allclose(runtf(m.f, m.acc_b), np.full((2, 3), 8.0))
    return m


def _raises(exc_type, code, *names):
    """Context manager: raises exc_type with .code == code and every name in the message."""

    class _Ctx:
        def __enter__(self):
            self._cm = pytest.raises(exc_type)
            self.info = self._cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self._cm.__exit__(*exc)
            err = self.info.value
            assert err.code == code, f"code {err.code!r}, expected {code!r}: {err}"
            for name in names:
                assert name in str(err), f"{name!r} not named in: {err}"
            return handled

    return _Ctx()


def _grad_request(m, fn=None, handle=None, args=(), grad=None, scale=1.0):
    fn = fn or m.f
    req = worker_pb2.GradientRequest(session_id=m.session.session_id, function_id=fn.function_id,
                                     trace_handle=m.trace.handle if handle is None else handle,
                                     scale_factor=scale)
    for a in args:
        fill_tensor(req.args.add(), a)
    if grad is not None:
        fill_tensor(req.retval_grad, grad)
    return req


def _extend(m, *nodes):
    req = worker_pb2.ExtendGraphRequest(session_id=m.session.session_id)
    req.nodes.extend(nodes)
    return m.session.call("ExtendGraph", req)


def _node(name, op, inputs=(), **type_attrs):
    n = graph_pb2.NodeDef(name=name, op=op, inputs=list(inputs))
    for key, dtype in type_attrs.items():
        n.attrs[key].type = dtype
    return n


F64 = tensor_pb2.DataType.Value("DATA_TYPE_FLOAT64")
F32 = tensor_pb2.DataType.Value("DATA_TYPE_FLOAT32")


# ---- arguments -----------------------------------------------------------------------------


def test_wrong_argument_dtype(model):
    m = model
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "argument 1", "'k'", "int32"):
        simulate(m.f, (X0, np.array([1.5, 2.5])))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'k'"):
        m.f(X0, np.array([1.5, 2.5]))
    # the same through a gradient call that carries its arguments
    req = _grad_request(m, handle=0, args=[X0, np.array([1.5, 2.5])], grad=G0)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "argument 1", "'k'"):
        m.session.call("AccumulateParamGradients", req)
    # a kind change the client would never make: complex to float64
    req = _grad_request(m, handle=0, args=[X0.astype(np.complex128), K0], grad=G0)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "argument 0", "'x'", "complex128"):
        m.session.call("AccumulateParamGradients", req)
    # float32 where float64 is expected is rejected by the worker (the client casts)
    req = worker_pb2.GenerateRequest(session_id=m.session.session_id, function_id=m.f.function_id,
                                     keep_trace=True)
    fill_tensor(req.args.add(), X0.astype(np.float32))
    fill_tensor(req.args.add(), K0)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'x'", "float64", "float32"):
        m.session.call("Generate", req)
    # a feed of the wrong kind
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'k'"):
        runtf(m.f, m.y, feed_dict={m.x: X0, m.k: np.array([0.5, 1.5])})
    m.assert_unchanged(before)


def test_wrong_argument_shape(model):
    m = model
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "argument 0", "'x'", "[3]", "[4]"):
        simulate(m.f, (np.ones(4), K0))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'xb'"):
        simulate(m.fb, (np.ones((2, 4)),))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'xb'"):
        simulate(m.fb, (np.ones(3),))
    req = _grad_request(m, handle=0, args=[np.ones((3, 1)), K0], grad=G0)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'x'"):
        m.session.call("AccumulateParamGradients", req)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'x'"):
        runtf(m.f, m.y, feed_dict={m.x: np.ones(2), m.k: K0})
    m.assert_unchanged(before)


def test_wrong_number_of_arguments(model):
    m = model
    before = m.state()
    with pytest.raises(TypeError):
        simulate(m.f, (X0,))
    req = worker_pb2.GenerateRequest(session_id=m.session.session_id, function_id=m.f.function_id)
    fill_tensor(req.args.add(), X0)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", m.f.function_id, "2 argument"):
        m.session.call("Generate", req)
    m.assert_unchanged(before)


def test_undecodable_tensor(model):
    m = model
    before = m.state()
    req = worker_pb2.GenerateRequest(session_id=m.session.session_id, function_id=m.f.function_id)
    fill_tensor(req.args.add(), X0)
    fill_tensor(req.args.add(), K0)
    req.args[1].content = b"\x00\x01\x02"
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "argument 1", "bytes"):
        m.session.call("Generate", req)
    req.args[1].dtype = 0
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "argument 1", "dtype"):
        m.session.call("Generate", req)
    m.assert_unchanged(before)


# ---- output gradients ----------------------------------------------------------------------


def test_wrong_retval_grad_dtype(model):
    m = model
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad", "complex128"):
        accumulate_param_gradients(m.trace, G0 + 1j)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad"):
        choice_gradients(m.trace, select(), G0 + 1j)
    for method in ("AccumulateParamGradients", "ChoiceGradients"):
        req = _grad_request(m, grad=G0.astype(np.float32))
        with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad", "float32"):
            m.session.call(method, req)
    req = _grad_request(m, grad=np.array(["a", "b"], dtype=object))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad"):
        m.session.call("AccumulateParamGradients", req)
    req = _grad_request(m)  # no retval_grad at all
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad"):
        m.session.call("AccumulateParamGradients", req)
    req = _grad_request(m, grad=G0)
    req.retval_grad.content = req.retval_grad.content[:-1]
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad"):
        m.session.call("AccumulateParamGradients", req)
    m.assert_unchanged(before)


def test_wrong_retval_grad_shape(model):
    m = model
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad", "[2]", "[3]"):
        accumulate_param_gradients(m.trace, np.ones(3))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad"):
        accumulate_param_gradients(m.trace, np.float64(1.0))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad"):
        choice_gradients(m.trace, select(), np.ones((2, 1)))
    # unknown batch dimension: the trace's return value fixes the shape ...
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad", "[4, 2]", "[5, 2]"):
        accumulate_param_gradients(m.trace_b, np.ones((5, 2)))
    # ... and without a trace handle the worker checks inside the compiled function,
    # still before anything is added to the accumulators
    req = _grad_request(m, fn=m.fb, handle=0, args=[np.ones((4, 3))], grad=np.ones((5, 2)))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad"):
        m.session.call("AccumulateParamGradients", req)
    req = _grad_request(m, fn=m.fb, handle=0, args=[np.ones((4, 3))], grad=np.ones((5, 2)))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "retval_grad"):
        m.session.call("ChoiceGradients", req)
    m.assert_unchanged(before)


def test_trace_handle_of_another_function(model):
    m = model
    before = m.state()
    req = _grad_request(m, fn=m.fb, handle=m.trace.handle, grad=np.ones((4, 2)))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", m.f.function_id, m.fb.function_id):
        m.session.call("AccumulateParamGradients", req)
    m.assert_unchanged(before)


# ---- graph growth --------------------------------------------------------------------------


def test_unknown_op(model):
    m = model
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'bad'", "NoSuchOp"):
        _extend(m, _node("bad", "NoSuchOp", ["x"]))
    # the client knows the registry and refuses to build it at all
    with pytest.raises(AttributeError, match="NoSuchOp"):
        tf.raw_ops.NoSuchOp(x=m.x)
    from gentf.graph._apply import apply_op

    with pytest.raises(errors.InvalidArgumentError, match="NoSuchOp"):
        apply_op("NoSuchOp", [m.x])
    m.assert_unchanged(before)


def test_refused_op(model):
    m = model
    before = m.state()
    node = _node("rf", "ReadFile", ["x"])
    with _raises(errors.PermissionDeniedError, "PERMISSION_DENIED", "'rf'", "ReadFile"):
        _extend(m, node)
    m.assert_unchanged(before)


def test_unknown_attribute(model):
    m = model
    before = m.state()
    node = _node("ident", "Identity", ["x"], T=F64)
    node.attrs["colour"].s = b"blue"
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'ident'", "'colour'"):
        _extend(m, node)
    m.assert_unchanged(before)


def test_missing_and_wrong_attribute_values(model):
    m = model
    before = m.state()
    # T missing: TensorFlow's import fails; the message names the node
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'ident2'"):
        _extend(m, _node("ident2", "Identity", ["x"]))
    # T says float32 but the input is float64
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'ident3'"):
        _extend(m, _node("ident3", "Identity", ["x"], T=F32))
    # an attribute value left unset
    node = _node("ident4", "Identity", ["x"], T=F64)
    node.attrs["T"].Clear()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'ident4'"):
        _extend(m, node)
    # incompatible shapes (a MatMul of [3] and [3])
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'mm'"):
        _extend(m, _node("mm", "MatMul", ["x", "x"], T=F64))
    m.assert_unchanged(before)


def test_input_that_does_not_exist(model):
    m = model
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'neg'", "'ghost'"):
        _extend(m, _node("neg", "Neg", ["ghost"], T=F64))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'neg'", "output 7"):
        _extend(m, _node("neg", "Neg", ["x:7"], T=F64))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'neg'", "^ghost"):
        _extend(m, _node("neg", "Neg", ["x", "^ghost"], T=F64))
    m.assert_unchanged(before)


def test_cycle(model):
    m = model
    before = m.state()
    a = _node("cyc_a", "Neg", ["cyc_b"], T=F64)
    b = _node("cyc_b", "Neg", ["cyc_a"], T=F64)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "cycle", "cyc_a", "cyc_b"):
        _extend(m, a, b)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "cycle", "self_loop"):
        _extend(m, _node("self_loop", "Add", ["x", "self_loop"], T=F64))
    # a cycle through a control input
    c = _node("cyc_c", "Neg", ["x", "^cyc_d"], T=F64)
    d = _node("cyc_d", "Neg", ["cyc_c"], T=F64)
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "cycle", "cyc_c", "cyc_d"):
        _extend(m, c, d)
    m.assert_unchanged(before)


def test_bad_node_names(model):
    m = model
    before = m.state()
    for name in ("", "has space", "_private", "colon:0"):
        with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "node name"):
            _extend(m, _node(name, "Neg", ["x"], T=F64))
    m.assert_unchanged(before)


def test_extend_is_all_or_none_and_idempotent(model):
    m = model
    good1 = _node("g1", "Neg", ["x"], T=F64)
    good2 = _node("g2", "Neg", ["g1"], T=F64)
    bad = _node("g3", "Neg", ["nowhere"], T=F64)
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'g3'", "nowhere"):
        _extend(m, good1, good2, bad)
    m.assert_unchanged(before)
    assert "g1" not in m.core._graph.nodes and "g2" not in m.core._graph.nodes
    # a failure found only by TensorFlow's import (type inference) also adds nothing
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'g3'"):
        _extend(m, good1, good2, _node("g3", "MatMul", ["g1", "g2"], T=F64))
    m.assert_unchanged(before)
    # the good nodes alone are accepted, in any order
    reply = _extend(m, good2, good1)
    assert [n.name for n in reply.nodes] == ["g2", "g1"]
    assert list(reply.nodes[0].outputs[0].shape.dims) == [3]
    nodes = list(m.core._graph.nodes)
    # re-sending identical nodes is accepted and adds nothing
    reply = _extend(m, good1, good2)
    assert [n.name for n in reply.nodes] == ["g1", "g2"]
    assert reply.nodes[0].outputs[0].dtype == F64
    assert list(m.core._graph.nodes) == nodes
    # the same name with another definition is ALREADY_EXISTS, in a batch with new nodes too
    before = m.state()
    with _raises(errors.AlreadyExistsError, "ALREADY_EXISTS", "'g1'"):
        _extend(m, _node("g4", "Neg", ["x"], T=F64), _node("g1", "Neg", ["g2"], T=F64))
    assert "g4" not in m.core._graph.nodes
    # one name twice in one request with two definitions
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'g5'"):
        _extend(m, _node("g5", "Neg", ["x"], T=F64), _node("g5", "Neg", ["g1"], T=F64))
    m.assert_unchanged(before)
    # the accepted node runs
    np.testing.assert_array_equal(
        m.session.call("RunOp", _run_request(m, {"x": X0}, ["g2"])).fetched[0].content,
        X0.tobytes())


def _run_request(m, feeds, fetches, targets=()):
    req = worker_pb2.RunOpRequest(session_id=m.session.session_id, fetches=list(fetches),
                                  targets=list(targets))
    for name, value in feeds.items():
        fill_tensor(req.feeds[name], value)
    return req


def test_client_graph_variable_with_bad_initial_value(model):
    m = model
    before = m.state()
    node = graph_pb2.NodeDef(name="v_bad", op="VarHandleOp")
    node.attrs["dtype"].type = F64
    node.attrs["shape"].shape.dims.extend([-1])  # no initial value: needs a full shape
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'v_bad'", "initial value"):
        _extend(m, node)
    node.attrs["shape"].shape.dims[0] = 2
    fill_tensor(node.initial_value, np.zeros(3))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'v_bad'", "shape"):
        _extend(m, node)
    fill_tensor(node.initial_value, np.zeros(2, np.float32))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'v_bad'", "dtype"):
        _extend(m, node)
    m.assert_unchanged(before)


# ---- sessions, functions, runs ---------------------------------------------------------------


def test_unknown_session(model):
    m = model
    before = m.state()
    req = worker_pb2.GenerateRequest(session_id="no-such-session", function_id=m.f.function_id)
    fill_tensor(req.args.add(), X0)
    fill_tensor(req.args.add(), K0)
    for method, request in [
        ("Generate", req),
        ("AccumulateParamGradients", worker_pb2.GradientRequest(session_id="no-such-session",
                                                                function_id=m.f.function_id)),
        ("RunOp", worker_pb2.RunOpRequest(session_id="no-such-session")),
        ("ExtendGraph", worker_pb2.ExtendGraphRequest(session_id="no-such-session")),
        ("Construct", worker_pb2.ConstructRequest(session_id="no-such-session")),
        ("RenewLease", worker_pb2.RenewLeaseRequest(session_id="no-such-session")),
        ("CloseSession", worker_pb2.CloseSessionRequest(session_id="no-such-session")),
    ]:
        with _raises(errors.NotFoundError, "NOT_FOUND", "no-such-session"):
            m.session.call(method, request)
    m.assert_unchanged(before)


def test_unknown_function(model):
    m = model
    before = m.state()
    req = worker_pb2.GenerateRequest(session_id=m.session.session_id, function_id="f999")
    with _raises(errors.NotFoundError, "NOT_FOUND", "'f999'"):
        m.session.call("Generate", req)
    greq = _grad_request(m, grad=G0)
    greq.function_id = "f999"
    for method in ("ChoiceGradients", "AccumulateParamGradients"):
        with _raises(errors.NotFoundError, "NOT_FOUND", "'f999'"):
            m.session.call(method, greq)
    m.assert_unchanged(before)


def test_unknown_trace_handle_without_args(model):
    m = model
    before = m.state()
    req = _grad_request(m, handle=987654, grad=G0)
    with _raises(errors.NotFoundError, "NOT_FOUND", "987654"):
        m.session.call("AccumulateParamGradients", req)
    m.assert_unchanged(before)


def test_bad_construct(model):
    m = model
    before = m.state()
    sid = m.session.session_id
    acc = m.acc.op.name
    cases = [
        ({"params": ["W"], "inputs": ["W"], "output": m.y.name, "accumulators": [acc]}, ["'W'", "placeholder"]),
        ({"params": ["x"], "inputs": ["x", "k"], "output": m.y.name, "accumulators": [acc]}, ["'x'", "variable"]),
        ({"params": [], "inputs": ["x", "k"], "output": "nosuch:0"}, ["'nosuch'"]),
        ({"params": [], "inputs": ["x", "k"], "output": "y:3"}, ["'y:3'"]),
        ({"params": [], "inputs": ["x", "k"], "output": "W"}, ["'W'", "resource"]),
        ({"params": ["W"], "inputs": ["x", "k"], "output": m.y.name, "accumulators": []}, ["accumulator"]),
        ({"params": ["W"], "inputs": ["x", "k"], "output": m.y.name, "accumulators": ["W", acc]}, ["accumulator"]),
        ({"params": [], "inputs": ["x"], "output": m.y.name}, ["'k'"]),   # a needed placeholder is no input
        ({"params": [], "inputs": ["x", "x", "k"], "output": m.y.name}, ["'x'"]),
        ({"params": [], "inputs": ["ghost"], "output": m.y.name}, ["'ghost'"]),
    ]
    for fields, names in cases:
        with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", *names):
            m.session.call("Construct", worker_pb2.ConstructRequest(session_id=sid, **fields))
    # an accumulator of another shape than its param
    v = tf.Variable(np.zeros(3), name="wrong_acc")
    m.session.sync()
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'wrong_acc'", "'W'"):
        m.session.call("Construct", worker_pb2.ConstructRequest(
            session_id=sid, params=["W"], inputs=["x", "k"], output=m.y.name,
            accumulators=[v.op.name]))
    m.assert_unchanged(before)


def test_fetch_of_unfed_placeholder(model):
    m = model
    upd = tf.assign_add(m.W, tf.expand_dims(m.x, 0) * np.ones((2, 1)))
    m.session.sync()
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "placeholder", "'x'", "not fed"):
        runtf(m.f, m.y, feed_dict={m.k: K0})
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'k'", "not fed"):
        runtf(m.f, m.k)
    # an update op that needs a placeholder is not run when it is not fed
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'x'", "not fed"):
        runtf(m.f, upd)
    m.assert_unchanged(before)


def test_bad_run_requests(model):
    m = model
    m.session.sync()
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "fetch 'ghost"):
        m.session.call("RunOp", _run_request(m, {}, ["ghost:0"]))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'ghost'"):
        m.session.call("RunOp", _run_request(m, {}, [], ["ghost"]))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'ghost'"):
        m.session.call("RunOp", _run_request(m, {"ghost": X0}, [m.y.name]))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'W'", "resource"):
        m.session.call("RunOp", _run_request(m, {}, ["W:0"]))
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "'W'", "placeholder"):
        m.session.call("RunOp", _run_request(m, {"W": W0}, [m.y.name]))
    with pytest.raises(TypeError):
        runtf(m.f, m.y, feed_dict={m.y: G0, m.x: X0, m.k: K0})
    m.assert_unchanged(before)


def test_failed_run_changes_nothing(model):
    m = model
    q = tf.placeholder(tf.float64, shape=(2,), name="q")
    check = tf.raw_ops.CheckNumerics(tensor=q, message="q has a NaN")
    step = tf.assign_add(m.W, tf.ones_like(m.W))
    m.session.sync()
    before = m.state()
    with _raises(errors.InvalidArgumentError, "INVALID_ARGUMENT", "q has a NaN"):
        runtf(m.f, [step, check], feed_dict={q: np.array([np.nan, 1.0])})
    m.assert_unchanged(before)


def test_assign_of_another_shape_is_rejected(model):
    m = model
    p = tf.placeholder(tf.float64, shape=(None, None), name="p")
    bad = tf.assign(m.W, p)
    m.session.sync()
    before = m.state()
    with pytest.raises(errors.InvalidArgumentError):
        runtf(m.f, bad, feed_dict={p: np.ones((3, 3))})
    m.assert_unchanged(before)


# ---- size cap ------------------------------------------------------------------------------


@pytest.fixture
def capped(capped_worker, session_on):
    with session_on(capped_worker.address) as sess:
        yield Model(sess, capped_worker.sessions.get(sess.session_id))


def test_message_over_the_cap(capped):
    m = capped
    before = m.state()
    big = np.ones((2 << 20) // 8 // 3 * 3, dtype=np.float64).reshape(-1, 3)  # 2 MiB
    with _raises(errors.ResourceExhaustedError, "RESOURCE_EXHAUSTED"):
        simulate(m.fb, (big,))
    with _raises(errors.ResourceExhaustedError, "RESOURCE_EXHAUSTED"):
        m.fb(big)
    with _raises(errors.ResourceExhaustedError, "RESOURCE_EXHAUSTED"):
        runtf(m.fb, m.fb.output, feed_dict={m.xb: big})
    req = _grad_request(m, fn=m.fb, handle=0, args=[big], grad=np.ones((big.shape[0], 2)))
    with _raises(errors.ResourceExhaustedError, "RESOURCE_EXHAUSTED"):
        m.session.call("AccumulateParamGradients", req)
    m.assert_unchanged(before)
    # just under the cap is fine
    ok = np.ones(((1 << 20) - 4096) // 8 // 3, dtype=np.float64).reshape(-1, 1)
    ok = np.repeat(ok, 3, axis=1)[: ((1 << 20) - 4096) // 24]
    assert ok.nbytes < (1 << 20)
    assert m.fb(ok).shape == (ok.shape[0], 2)


def test_reply_over_the_cap_keeps_no_trace(capped):
    m = capped
    xx = tf.placeholder(tf.float64, shape=(None,), name="xx")
    tile = tf.raw_ops.Tile(input=xx, multiples=tf.constant(np.array([1000], np.int32)))
    f = TFFunction([], [xx], tile, m.session)
    before = m.state()
    with _raises(errors.ResourceExhaustedError, "RESOURCE_EXHAUSTED", f.function_id):
        simulate(f, (np.ones(200),))   # 1.6 MB return value from a 1.6 kB argument
    with _raises(errors.ResourceExhaustedError, "RESOURCE_EXHAUSTED"):
        f(np.ones(200))
    with _raises(errors.ResourceExhaustedError, "RESOURCE_EXHAUSTED"):
        runtf(f, tile, feed_dict={xx: np.ones(200)})
    m.assert_unchanged(before)


def test_run_with_target_and_oversized_fetch_changes_nothing(capped):
    m = capped
    big = tf.fill(tf.constant(np.array([200_000], np.int32)), tf.constant(1.0, tf.float64)) \
        if hasattr(tf, "fill") else None
    step = tf.assign_add(m.W, np.ones((2, 3)))
    m.session.sync()   # graph growth is its own call; the run itself must change nothing
    before = m.state()
    with pytest.raises(errors.ResourceExhaustedError):
        runtf(m.f, [step, big])
    m.assert_unchanged(before)


def test_rejected_node_does_not_poison_the_session(model):
    m = model
    try:
        tf.raw_ops.ReadFile(filename=tf.constant("/etc/passwd"))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"the client now refuses ReadFile itself ({exc!r}): poison the session "
                    "with another node only the worker rejects")
    with pytest.raises(errors.PermissionDeniedError):
        m.session.sync()
    np.testing.assert_allclose(m.f(X0, K0), W0 @ X0 + K0)  # no sync needed: works
    np.testing.assert_allclose(runtf(m.f, m.y, feed_dict={m.x: X0, m.k: K0}), W0 @ X0 + K0)


def test_closed_session_is_not_found(worker, session_on):
    with session_on(worker.address) as sess:
        x = tf.placeholder(tf.float64, shape=(2,), name="x")
        f = TFFunction([], [x], x * 2.0, sess)
        np.testing.assert_array_equal(f(np.ones(2)), [2.0, 2.0])
        other = Transport(worker.address)
        try:
            other.call("CloseSession", worker_pb2.CloseSessionRequest(session_id=sess.session_id))
        finally:
            other.close()
        with _raises(errors.NotFoundError, "NOT_FOUND", sess.session_id):
            f(np.ones(2))
