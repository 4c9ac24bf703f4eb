"""Gen's parameter update rules for a TFFunction, run on the worker.

Each rule becomes one worker operation built once: the optimizer step on the NEGATED
accumulators (TensorFlow optimizers descend; accumulated gradients point uphill), then
zeroing those accumulators, ordered after the step. ``apply()`` is one RunOp call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gentf.gfi._param_conf import ADAM, FixedStepGradientDescent, GradientDescent
from gentf.graph._apply import apply_op, constant
from gentf.graph._core import Operation
from gentf.graph._ops import cast, group, negative, placeholder
from gentf.graph._train import AdamOptimizer, GradientDescentOptimizer
from gentf.graph._variables import Variable

if TYPE_CHECKING:
    from gentf.remote._tffunction import TFFunction

__all__ = ["WorkerParamUpdater"]


class WorkerParamUpdater:
    """``apply()``: one ascent step of ``conf`` on ``params`` of ``fn``, then their accumulators reset."""

    def __init__(self, fn: TFFunction, conf: Any, params: Sequence[Variable]) -> None:
        self._fn = fn
        self._conf = conf
        self._t = 0
        unknown = [p for p in params if p not in fn.params]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a parameter of {fn.name}")
        graph = fn.session.graph
        self._step_size = None
        with graph.as_default(), graph.name_scope("ParamUpdate"):
            accs = [fn.param_grad_var(p) for p in params]
            ascent = [(negative(a), p) for a, p in zip(accs, params)]
            if isinstance(conf, FixedStepGradientDescent):
                step = GradientDescentOptimizer(conf.step_size).apply_gradients(ascent)
            elif isinstance(conf, GradientDescent):
                self._step_size = placeholder("float64", shape=(), name="step_size")
                updates = [apply_op("ResourceApplyGradientDescent",
                                    [p.handle, cast(self._step_size, p.dtype), g]) for g, p in ascent]
                step = group(*updates)
            elif isinstance(conf, ADAM):
                step = AdamOptimizer(conf.learning_rate, conf.beta1, conf.beta2,
                                     conf.epsilon).apply_gradients(ascent)
            else:
                raise TypeError(f"unsupported parameter update configuration {conf!r} for a TFFunction")
            resets = [apply_op("AssignVariableOp",
                               [a.handle, constant(np.zeros(a.shape, a.dtype.as_numpy_dtype))],
                               {"dtype": a.dtype}, control_inputs=[step]) for a in accs]
            self.op: Operation = group(step, *resets, name="apply")
        fn.session.sync([self.op])

    def apply(self) -> None:
        """Applies one step and zeroes the accumulators.

        The step is deferred: it travels with the session's next call (which any read of
        the parameters is), so it costs no round trip of its own.
        """
        self._t += 1
        feed = None
        if self._step_size is not None:
            conf = self._conf
            step = conf.step_size_init * (conf.step_size_beta + 1) / (conf.step_size_beta + self._t)
            feed = {self._step_size: np.float64(step)}
        self._fn.session.run_later(self.op, feed_dict=feed)
