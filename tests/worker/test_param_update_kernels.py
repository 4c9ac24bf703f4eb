"""A TFFunction's gradient-descent ParamUpdate writes its step out of place (issue 9: no
copy-on-write of the buffer the worker keeps to undo a call) and gives the same bits as
TensorFlow's own kernel, ``ResourceApplyGradientDescent`` on the negated accumulators."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as real_tf
from gentf import FixedStepGradientDescent, GradientDescent, get_param_grad_tf_var, runtf, simulate

from tests.worker.small_mlp import INIT, XS, YS, mlp, output_grad


def _kernel_step(param: np.ndarray, acc: np.ndarray, step_size: float) -> np.ndarray:
    """TensorFlow's in-place gradient-descent kernel, in this process."""
    var = real_tf.Variable(param)
    real_tf.raw_ops.ResourceApplyGradientDescent(
        var=var.handle, alpha=real_tf.constant(step_size, dtype=var.dtype), delta=-acc)
    return var.numpy()


@pytest.mark.parametrize("conf", [FixedStepGradientDescent(0.37), GradientDescent(0.3, 2.0)],
                         ids=["fixed", "schedule"])
def test_gradient_descent_updates_are_tensorflows_kernel_bit_for_bit(session, conf):
    f, params, _ = mlp(session, type(conf).__name__)
    updater = f.make_param_updater(conf)
    accs = [get_param_grad_tf_var(f, p) for p in params]
    before = [runtf(f, p) for p in params]
    for t, (xs, ys) in enumerate(zip(XS, YS), start=1):
        trace = simulate(f, (xs,))
        f.accumulate_param_gradients_only(trace, output_grad(trace.get_retval(), ys), 0.5)
        acc_values = runtf(f, accs)
        assert all(a.any() for a in acc_values)
        updater.apply()
        after = runtf(f, params)
        if isinstance(conf, GradientDescent):
            step = conf.step_size_init * (conf.step_size_beta + 1) / (conf.step_size_beta + t)
        else:
            step = conf.step_size
        for b, a, got in zip(before, acc_values, after):
            np.testing.assert_array_equal(got, _kernel_step(b, a, np.float32(step)))
        assert not any(a.any() for a in runtf(f, accs))  # reset after the step
        before = after
    assert not np.array_equal(before[0], INIT[0])  # it trained

