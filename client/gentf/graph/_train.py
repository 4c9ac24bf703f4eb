"""Optimizers that build update ops; slots and step counters live on the worker as variables.

``apply_gradients([(grad, var), ...])`` follows TensorFlow 1: it DESCENDS along ``grad``.
With GenTF's gradient accumulators (which point uphill), pass the negated accumulator::

    step = tf.train.GradientDescentOptimizer(1e-5).apply_gradients(
        [(tf.negative(get_param_grad_tf_var(net, W)), W)])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import Operation, get_default_graph
from gentf.graph._ops import group
from gentf.graph._variables import Variable

__all__ = ["AdamOptimizer", "GradientDescentOptimizer", "Optimizer"]


class Optimizer:
    """Base class: ``apply_gradients`` returns one operation that applies a step."""

    def __init__(self, name: str) -> None:
        self._name = name

    def apply_gradients(self, grads_and_vars: Sequence[tuple[Any, Variable]], name: str | None = None) -> Operation:
        """One operation that updates every variable from its gradient (a descent step)."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError("apply_gradients: no (gradient, variable) pair with a gradient")
        for _, v in pairs:
            if not isinstance(v, Variable):
                raise TypeError(f"apply_gradients needs Variables, got {type(v).__name__}")
        graph = get_default_graph()
        with graph.name_scope(name or self._name):
            updates = [self._apply_one(convert_to_tensor(g, dtype=v.dtype), v) for g, v in pairs]
            return self._finish(updates, [v for _, v in pairs])

    def _apply_one(self, grad: Any, var: Variable) -> Operation:
        raise NotImplementedError

    def _finish(self, updates: list[Operation], variables: list[Variable]) -> Operation:
        return group(*updates, name="update")


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * grad``."""

    def __init__(self, learning_rate: float, name: str = "GradientDescent") -> None:
        super().__init__(name)
        self.learning_rate = learning_rate

    def _apply_one(self, grad: Any, var: Variable) -> Operation:
        lr = constant(np.asarray(self.learning_rate, dtype=var.dtype.as_numpy_dtype))
        return apply_op("ResourceApplyGradientDescent", [var.handle, lr, grad])


class AdamOptimizer(Optimizer):
    """TensorFlow 1's Adam, epsilon-hat form, with slots ``m``, ``v`` per variable::

        lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
        m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
        var -= lr_t * m / (sqrt(v) + epsilon)
    """

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, name: str = "Adam") -> None:
        super().__init__(name)
        self.learning_rate, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self._powers: tuple[Variable, Variable] | None = None

    def _apply_one(self, grad: Any, var: Variable) -> Operation:
        npd = var.dtype.as_numpy_dtype
        if self._powers is None or self._powers[0].dtype is not var.dtype:
            self._powers = (Variable(np.asarray(self.beta1, npd), name="beta1_power", trainable=False),
                            Variable(np.asarray(self.beta2, npd), name="beta2_power", trainable=False))
        base = var.op.name
        m = Variable(np.zeros(var.shape, npd), name=f"{base}/Adam", trainable=False)
        v = Variable(np.zeros(var.shape, npd), name=f"{base}/Adam_1", trainable=False)
        b1p, b2p = self._powers
        scalars = [constant(np.asarray(x, npd)) for x in
                   (self.learning_rate, self.beta1, self.beta2, self.epsilon)]
        return apply_op("ResourceApplyAdam",
                        [var.handle, m.handle, v.handle, b1p.value(), b2p.value(), *scalars, grad])

    def _finish(self, updates: list[Operation], variables: list[Variable]) -> Operation:
        assert self._powers is not None
        b1p, b2p = self._powers
        with_deps = []
        for power, beta in ((b1p, self.beta1), (b2p, self.beta2)):
            new = apply_op("Mul", [power.value(), constant(np.asarray(beta, power.dtype.as_numpy_dtype))],
                           control_inputs=updates).outputs[0]
            with_deps.append(apply_op("AssignVariableOp", [power.handle, new], {"dtype": power.dtype}))
        return group(*updates, *with_deps, name="update")
