"""TFFunction's generative function interface over a real worker, and trace handles."""

from __future__ import annotations

import gentf
import numpy as np
import pytest
from gentf import (
    EmptyChoiceMap,
    NoChange,
    TFFunction,
    TFTrace,
    UnknownChange,
    accumulate_param_gradients,
    assess,
    choice_gradients,
    choicemap,
    errors,
    generate,
    get_param_grad_tf_var,
    project,
    propose,
    regenerate,
    runtf,
    select,
    simulate,
    tf,
    update,
)

W0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
X0 = np.array([1.0, -1.0, 2.0])
X1 = np.array([0.0, 1.0, 0.5])
G0 = np.array([0.5, -2.0])


@pytest.fixture
def matvec(session):
    W = tf.Variable(W0, name="W")
    x = tf.placeholder(tf.float64, shape=(3,), name="x")
    y = tf.squeeze(tf.matmul(W, tf.expand_dims(x, axis=1)), axis=1)
    return W, TFFunction([W], [x], y, session)


def _acc(f, W):
    return runtf(f, get_param_grad_tf_var(f, W))


def test_simulate(matvec):
    _W, f = matvec
    trace = simulate(f, (X0,))
    assert isinstance(trace, TFTrace)
    assert trace.get_gen_fn() is f
    np.testing.assert_array_equal(trace.get_args()[0], X0)
    np.testing.assert_array_equal(trace.get_retval(), W0 @ X0)
    assert trace.get_score() == 0.0
    assert trace.get_choices().is_empty()
    assert trace.handle != 0  # the worker keeps the arguments


def test_generate_empty_and_nonempty_constraints(matvec, core_session):
    _W, f = matvec
    trace, weight = generate(f, (X0,), choicemap())
    assert weight == 0.0
    np.testing.assert_array_equal(trace.get_retval(), W0 @ X0)
    trace2, weight2 = generate(f, (X1,))
    assert weight2 == 0.0
    np.testing.assert_array_equal(trace2.get_retval(), W0 @ X1)
    kept = len(core_session._traces)
    with pytest.raises(errors.InvalidArgumentError, match="no random choices"):
        generate(f, (X0,), choicemap({"a": 1.0}))
    assert len(core_session._traces) == kept  # nothing ran on the worker


def test_assess_and_propose(matvec, core_session):
    _, f = matvec
    kept = len(core_session._traces)
    weight, retval = assess(f, (X0,), choicemap())
    assert weight == 0.0
    np.testing.assert_array_equal(retval, W0 @ X0)
    with pytest.raises(errors.InvalidArgumentError):
        assess(f, (X0,), choicemap({"y": 2.0}))
    choices, weight, retval = propose(f, (X1,))
    assert choices.is_empty()
    assert weight == 0.0
    np.testing.assert_array_equal(retval, W0 @ X1)
    np.testing.assert_array_equal(f(X1), W0 @ X1)  # untraced call
    assert len(core_session._traces) == kept  # none of these keeps a trace


def test_update_and_regenerate(matvec):
    W, f = matvec
    trace = simulate(f, (X0,))
    new, weight, retdiff, discard = update(trace, (X0,), (NoChange,), choicemap())
    assert new is trace
    assert weight == 0.0 and retdiff is NoChange and discard.is_empty()
    new, weight, retdiff = regenerate(trace, (X0,), (NoChange,), select())
    assert new is trace and weight == 0.0 and retdiff is NoChange
    new, weight, retdiff = regenerate(trace)  # default: same args, NoChange
    assert new is trace

    new, weight, retdiff, discard = update(trace, (X1,), (UnknownChange,), choicemap())
    assert new is not trace
    assert weight == 0.0 and retdiff is UnknownChange and discard.is_empty()
    np.testing.assert_array_equal(new.get_retval(), W0 @ X1)
    np.testing.assert_array_equal(new.get_args()[0], X1)
    np.testing.assert_array_equal(trace.get_retval(), W0 @ X0)  # old trace untouched
    new2, weight, retdiff = regenerate(trace, (X1,), (UnknownChange,), select())
    assert new2 is not trace and retdiff is UnknownChange
    np.testing.assert_array_equal(new2.get_retval(), W0 @ X1)
    new3, _, _, _ = update(trace, (X1,))  # argdiffs default to UnknownChange
    np.testing.assert_array_equal(new3.get_retval(), W0 @ X1)
    # the recomputed trace differentiates at its own arguments
    accumulate_param_gradients(new, G0)
    np.testing.assert_allclose(_acc(f, W), np.outer(G0, X1))
    with pytest.raises(errors.InvalidArgumentError):
        update(trace, (X0,), (NoChange,), choicemap({"a": 1}))


def test_update_recomputes_with_current_params(matvec):
    W, f = matvec
    trace = simulate(f, (X0,))
    runtf(f, tf.assign(W, 2 * W0))
    new, _, _, _ = update(trace, (X0,), (UnknownChange,), choicemap())
    np.testing.assert_array_equal(new.get_retval(), 2 * W0 @ X0)


def test_project_and_interface_queries(matvec):
    W, f = matvec
    trace = simulate(f, (X0,))
    assert project(trace, select()) == 0.0
    assert project(trace, select("a")) == 0.0
    assert f.has_argument_grads() == (True,)
    assert f.accepts_output_grad() is True
    assert f.get_params() == [W]
    assert get_param_grad_tf_var(f, W) is f.param_grad_var(W)
    with pytest.raises(KeyError):
        get_param_grad_tf_var(f, tf.Variable(np.zeros(1), name="other"))


def test_choice_gradients_returns_empty_choice_maps(matvec):
    W, f = matvec
    trace = simulate(f, (X0,))
    (xg,), choice_values, choice_grads = choice_gradients(trace, select(), G0)
    np.testing.assert_allclose(xg, W0.T @ G0)
    assert choice_values.is_empty() and choice_grads.is_empty()
    (xg0,), _, _ = choice_gradients(trace, select(), None)
    np.testing.assert_array_equal(xg0, np.zeros(3))
    np.testing.assert_array_equal(_acc(f, W), np.zeros((2, 3)))


def test_choice_gradients_use_current_params(matvec):
    W, f = matvec
    trace = simulate(f, (X0,))
    runtf(f, tf.assign(W, -W0))
    (xg,), _, _ = choice_gradients(trace, select(), G0)
    np.testing.assert_allclose(xg, -W0.T @ G0)


def test_accumulate_with_none_retval_grad(matvec, core_session):
    W, f = matvec
    trace = simulate(f, (X0,))
    accumulate_param_gradients(trace, G0, 2.0)
    before = _acc(f, W)
    (xg,) = accumulate_param_gradients(trace, None)
    np.testing.assert_array_equal(xg, np.zeros(3))
    assert xg.dtype == np.float64
    (xg,) = accumulate_param_gradients(trace, None, 5.0)
    np.testing.assert_array_equal(xg, np.zeros(3))
    np.testing.assert_array_equal(_acc(f, W), before)
    np.testing.assert_allclose(before, 2 * np.outer(G0, X0))


def test_module_level_functions_dispatch(matvec):
    """gentf.simulate & co. call the generative function's methods (any GenerativeFunction)."""
    _, f = matvec
    calls = []
    depth = []

    class Spy(TFFunction):
        def __init__(self, inner):
            self.__dict__.update(inner.__dict__)

        def __getattribute__(self, name):
            method = object.__getattribute__(self, name)
            if name not in ("simulate", "generate", "assess", "propose", "update", "regenerate",
                            "project", "choice_gradients", "accumulate_param_gradients"):
                return method

            def recorded(*args, **kwargs):
                if not depth:  # only the outermost call (generate calls simulate, ...)
                    calls.append(name)
                depth.append(name)
                try:
                    return method(*args, **kwargs)
                finally:
                    depth.pop()

            return recorded

    spy = Spy(f)
    trace = gentf.simulate(spy, (X0,))
    gentf.generate(spy, (X0,), choicemap())
    gentf.assess(spy, (X0,), EmptyChoiceMap())
    gentf.propose(spy, (X0,))
    gentf.update(trace, (X0,), (NoChange,), choicemap())
    gentf.regenerate(trace, (X0,), (NoChange,), select())
    gentf.project(trace, select())
    gentf.choice_gradients(trace, select(), G0)
    gentf.accumulate_param_gradients(trace, G0)
    assert calls == ["simulate", "generate", "assess", "propose", "update", "regenerate",
                     "project", "choice_gradients", "accumulate_param_gradients"]


def test_several_functions_share_variables(session):
    W = tf.Variable(np.array([1.0, 2.0]), name="W")
    x = tf.placeholder(tf.float64, shape=(2,), name="x")
    f1 = TFFunction([W], [x], W * x, session)
    f2 = TFFunction([W], [x], tf.reduce_sum(W * W * x), session)
    assert f1.function_id != f2.function_id
    t1 = simulate(f1, (np.array([3.0, 4.0]),))
    t2 = simulate(f2, (np.array([1.0, 1.0]),))
    accumulate_param_gradients(t1, np.array([1.0, 1.0]))
    accumulate_param_gradients(t2, 1.0)
    np.testing.assert_array_equal(runtf(f1, get_param_grad_tf_var(f1, W)), [3.0, 4.0])
    np.testing.assert_array_equal(runtf(f2, get_param_grad_tf_var(f2, W)), [2.0, 4.0])
    # one update op touching the params through both functions' accumulators
    step = tf.train.GradientDescentOptimizer(0.5).apply_gradients(
        [(tf.negative(get_param_grad_tf_var(f1, W) + get_param_grad_tf_var(f2, W)), W)])
    runtf(f1, step)
    np.testing.assert_array_equal(runtf(f2, W), [1.0 + 0.5 * 5.0, 2.0 + 0.5 * 8.0])
    np.testing.assert_array_equal(f1(np.array([1.0, 1.0])), [3.5, 6.0])
    # a trace of one function is not accepted as the other's (handle belongs to f1)
    from gentf.v1 import worker_pb2
    from gentf.wire import fill_tensor

    req = worker_pb2.GradientRequest(session_id=session.session_id, function_id=f2.function_id,
                                     trace_handle=t1.handle)
    fill_tensor(req.retval_grad, np.float64(1.0))
    with pytest.raises(errors.InvalidArgumentError, match=f1.function_id):
        session.call("ChoiceGradients", req)


# ---- trace handles -------------------------------------------------------------------------


class _CallLog:
    """Records (method, trace_handle, number of args) of the session's real worker calls."""

    def __init__(self, session):
        self.calls = []
        self._session = session
        self._orig = session.call

        def call(method, request, **kwargs):
            if method in ("ChoiceGradients", "AccumulateParamGradients"):
                self.calls.append((method, request.trace_handle, len(request.args)))
            return self._orig(method, request, **kwargs)

        session.call = call

    def restore(self):
        del self._session.call


def _expected(x, g):
    return W0.T @ g, np.outer(g, x)


def test_dropped_trace_is_resent_after_clear(matvec, core_session):
    W, f = matvec
    trace = simulate(f, (X0,))
    assert trace.handle != 0
    core_session._traces.clear()
    log = _CallLog(f.session)
    try:
        (xg,), _, _ = choice_gradients(trace, select(), G0)
        (xg2,) = accumulate_param_gradients(trace, G0, 3.0)
    finally:
        log.restore()
    np.testing.assert_allclose(xg, W0.T @ G0)
    np.testing.assert_allclose(xg2, W0.T @ G0)
    np.testing.assert_allclose(_acc(f, W), 3 * np.outer(G0, X0))
    # each call: first with the handle only, then again with the arguments
    assert log.calls == [("ChoiceGradients", trace.handle, 0), ("ChoiceGradients", 0, 1),
                         ("AccumulateParamGradients", trace.handle, 0),
                         ("AccumulateParamGradients", 0, 1)]


def test_kept_trace_sends_no_args(matvec):
    W, f = matvec
    trace = simulate(f, (X0,))
    log = _CallLog(f.session)
    try:
        accumulate_param_gradients(trace, G0)
    finally:
        log.restore()
    assert log.calls == [("AccumulateParamGradients", trace.handle, 0)]
    np.testing.assert_allclose(_acc(f, W), np.outer(G0, X0))


def test_lru_eviction_on_a_tiny_trace_store(tiny_trace_worker, session_on):
    """64 bytes of trace arguments per session: two 24-byte traces fit, a third evicts the
    least recently used; arguments larger than the store are never kept."""
    with session_on(tiny_trace_worker.address) as sess:
        core = tiny_trace_worker.sessions.get(sess.session_id)
        W = tf.Variable(W0, name="W")
        x = tf.placeholder(tf.float64, shape=(None,), name="x")
        y = tf.squeeze(tf.matmul(W, tf.expand_dims(x, axis=1)), axis=1)
        f = TFFunction([W], [x], y, sess)
        xs = [X0, X1, np.array([2.0, 2.0, -1.0])]
        t0, t1 = simulate(f, (xs[0],)), simulate(f, (xs[1],))
        assert len(core._traces) == 2
        choice_gradients(t0, select(), G0)  # touch t0: t1 is now least recently used
        t2 = simulate(f, (xs[2],))
        assert len(core._traces) == 2
        assert core._traces.nbytes <= 64
        log = _CallLog(sess)
        try:
            for t, xv in zip((t0, t1, t2), xs):
                (xg,) = accumulate_param_gradients(t, G0, 1.0)
                np.testing.assert_allclose(xg, W0.T @ G0)
        finally:
            log.restore()
        resent = [handle for (_, handle, nargs) in log.calls if nargs == 1]
        assert t1.handle != 0 and resent == [0]  # only t1 needed its arguments again
        assert [c for c in log.calls if c[1] == t1.handle]  # it was tried by handle first
        np.testing.assert_allclose(_acc(f, W), sum(np.outer(G0, xv) for xv in xs))


def test_arguments_larger_than_the_store_are_sent_each_time(tiny_trace_worker, session_on):
    with session_on(tiny_trace_worker.address) as sess:
        core = tiny_trace_worker.sessions.get(sess.session_id)
        w = tf.Variable(np.array(2.0), name="w")
        x = tf.placeholder(tf.float64, shape=(None,), name="x")
        f = TFFunction([w], [x], tf.reduce_sum(w * x), sess)
        xv = np.arange(20.0)  # 160 bytes > 64
        trace = simulate(f, (xv,))
        assert trace.handle == 0
        assert len(core._traces) == 0
        (xg,) = accumulate_param_gradients(trace, 1.5)
        np.testing.assert_allclose(xg, np.full(20, 3.0))
        np.testing.assert_allclose(runtf(f, get_param_grad_tf_var(f, w)), 1.5 * xv.sum())
