"""A TFFunction's ParamUpdate, and TensorFlow 1's GradientDescentOptimizer, give the same bits
as TensorFlow's own kernels (``ResourceApplyGradientDescent``, ``ResourceApplyAdam`` on the
negated accumulators; a ``tf.compat.v1.Session``), run here in the test's process. The worker
writes gradient descent's step out of place (``core/out_of_place.py``, issue 9: no
copy-on-write of the buffer it keeps to undo a call); ADAM runs the kernel itself (spelled
out in ten elementwise ops it cost more than the three copies it saved)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as real_tf
from gentf import (
    ADAM,
    FixedStepGradientDescent,
    GradientDescent,
    get_param_grad_tf_var,
    runtf,
    simulate,
)

from tests.worker.small_mlp import INIT, XS, YS, mlp, output_grad


class KernelReference:
    """The parameters stepped by TensorFlow's in-place kernels, in this process."""

    def __init__(self, conf, params):
        self.conf = conf
        self.vars = [real_tf.Variable(p) for p in params]
        self.slots = [(real_tf.Variable(np.zeros_like(p)), real_tf.Variable(np.zeros_like(p)))
                      for p in params]

    def step(self, accs, t):
        conf = self.conf
        for var, (m, v), acc in zip(self.vars, self.slots, accs):
            c = functools.partial(real_tf.constant, dtype=var.dtype)
            if isinstance(conf, ADAM):
                real_tf.raw_ops.ResourceApplyAdam(
                    var=var.handle, m=m.handle, v=v.handle, beta1_power=c(_power(conf.beta1, t)),
                    beta2_power=c(_power(conf.beta2, t)), lr=c(conf.learning_rate),
                    beta1=c(conf.beta1), beta2=c(conf.beta2), epsilon=c(conf.epsilon), grad=-acc)
            else:
                if isinstance(conf, GradientDescent):
                    step = conf.step_size_init * (conf.step_size_beta + 1) / (conf.step_size_beta + t)
                else:
                    step = conf.step_size
                real_tf.raw_ops.ResourceApplyGradientDescent(var=var.handle, alpha=c(step), delta=-acc)
        return [v.numpy() for v in self.vars]


def _power(beta, t):
    """beta ** t as the optimizer's float32 power variable holds it (t - 1 float32 products)."""
    power = np.float32(beta)
    for _ in range(t - 1):
        power = np.float32(power * np.float32(beta))
    return power


@pytest.mark.parametrize("conf", [FixedStepGradientDescent(0.37), GradientDescent(0.3, 2.0),
                                  ADAM(0.05, 0.8, 0.99, 1e-3)], ids=["fixed", "schedule", "adam"])
def test_updates_are_tensorflows_kernels_bit_for_bit(session, core_session, conf):
    f, params, _ = mlp(session, type(conf).__name__)
    updater = f.make_param_updater(conf)
    accs = [get_param_grad_tf_var(f, p) for p in params]
    reference = KernelReference(conf, INIT)
    for t, (xs, ys) in enumerate(zip(XS * 2, YS * 2), start=1):
        trace = simulate(f, (xs,))
        f.accumulate_param_gradients_only(trace, output_grad(trace.get_retval(), ys), 0.5)
        acc_values = runtf(f, accs)
        assert all(a.any() for a in acc_values)
        updater.apply()
        expected = reference.step(acc_values, t)
        for got, want in zip(runtf(f, params), expected):
            np.testing.assert_array_equal(got, want, err_msg=f"step {t}")
        assert not any(a.any() for a in runtf(f, accs))  # reset after the step
    assert not np.array_equal(runtf(f, params[0]), INIT[0])  # it trained
    ops = {node.op for runner in core_session._runners.values()
           for node in runner._importer.graph_def.node}
    if isinstance(conf, ADAM):
        assert "ResourceApplyAdam" in ops
    else:  # the worker ran the step out of place (core/out_of_place.py)
        assert "ResourceApplyGradientDescent" not in ops and "AssignVariableOp" in ops


def test_tf1_gradient_descent_trains_as_tensorflow_does(session):
    """A TensorFlow 1 training loop (``GradientDescentOptimizer.minimize``, one ``sess.run``
    a step) against the same graph in TensorFlow's own ``tf.compat.v1.Session``: the same
    bits after every step."""
    from gentf import tf as gtf

    rng = np.random.default_rng(5)
    w0 = rng.normal(size=(6, 3)).astype(np.float32)
    batches = [(rng.normal(size=(8, 6)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32))
               for _ in range(5)]

    def build(api):
        x = api.placeholder(api.float32, shape=(None, 6), name="x")
        y = api.placeholder(api.float32, shape=(None, 3), name="y")
        w = api.Variable(w0, name="w")
        loss = api.reduce_mean(api.square(api.matmul(x, w) - y))
        train = api.train.GradientDescentOptimizer(0.3).minimize(loss)
        return x, y, w, train

    x, y, w, train = build(gtf)
    session.run(gtf.global_variables_initializer())
    mine = []
    for xs, ys in batches:
        session.run(train, feed_dict={x: xs, y: ys})
        mine.append(session.run(w))
    v1 = real_tf.compat.v1
    graph = v1.Graph()
    with graph.as_default():
        x, y, w, train = build(v1)
        with v1.Session(graph=graph) as ref:
            ref.run(v1.global_variables_initializer())
            for (xs, ys), got in zip(batches, mine):
                ref.run(train, feed_dict={x: xs, y: ys})
                np.testing.assert_array_equal(got, ref.run(w))
    assert not np.array_equal(mine[-1], w0)
