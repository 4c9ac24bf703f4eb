"""Optimizers that build update ops; slots and step counters live on the worker as variables.

``apply_gradients([(grad, var), ...])`` follows TensorFlow 1: it DESCENDS along ``grad``.
With GenTF's gradient accumulators (which point uphill), pass the negated accumulator::

    step = tf.train.GradientDescentOptimizer(1e-5).apply_gradients(
        [(tf.negative(get_param_grad_tf_var(net, W)), W)])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.graph._apply import apply_op, constant, convert_to_tensor
from gentf.graph._core import Operation, get_default_graph
from gentf.graph._ops import group
from gentf.graph._variables import Variable

__all__ = [
    "AdagradOptimizer",
    "AdamOptimizer",
    "GradientDescentOptimizer",
    "MomentumOptimizer",
    "Optimizer",
    "RMSPropOptimizer",
    "Saver",
    "create_global_step",
    "get_global_step",
    "get_or_create_global_step",
]


class Optimizer:
    """Base class: ``apply_gradients`` returns one operation that applies a step.

    Slots (moments, accumulators) are worker variables created by the first
    ``apply_gradients`` call, one set per variable; ``slots`` maps a variable to them.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def compute_gradients(self, loss: Any, var_list: Sequence[Variable] | None = None,
                          gate_gradients: int = 1, aggregation_method: Any = None,
                          colocate_gradients_with_ops: bool = False, grad_loss: Any = None,
                          ) -> list[tuple[Any, Variable]]:
        """``opt.compute_gradients(loss, var_list=None, grad_loss=None)``: ``[(gradient,
        variable), ...]`` for ``var_list`` (default: the trainable variables), built by the
        worker with TensorFlow's gradients; a gradient is None where the loss does not
        depend on the variable."""
        from gentf.graph._gradients import gradients
        from gentf.graph._variables import trainable_variables

        variables = list(var_list) if var_list is not None else trainable_variables()
        if not variables:
            raise ValueError("compute_gradients: no variables to optimize")
        grads = gradients(loss, variables, grad_ys=None if grad_loss is None else [grad_loss])
        return list(zip(grads, variables))

    def minimize(self, loss: Any, global_step: Variable | None = None,
                 var_list: Sequence[Variable] | None = None, gate_gradients: int = 1,
                 aggregation_method: Any = None, colocate_gradients_with_ops: bool = False,
                 name: str | None = None, grad_loss: Any = None) -> Operation:
        """``opt.minimize(loss, global_step=None, var_list=None)``: one operation taking a
        descent step on ``loss`` (compute_gradients then apply_gradients); ValueError when
        no variable gets a gradient."""
        pairs = self.compute_gradients(loss, var_list, grad_loss=grad_loss)
        if all(g is None for g, _ in pairs):
            raise ValueError(f"minimize: no gradients for any variable "
                             f"{[v.name for _, v in pairs]}; the loss does not depend on them")
        return self.apply_gradients(pairs, global_step=global_step, name=name)

    def apply_gradients(self, grads_and_vars: Sequence[tuple[Any, Variable]],
                        global_step: Variable | None = None, name: str | None = None) -> Operation:
        """One operation that updates every variable from its gradient (a descent step);
        pairs whose gradient is None are skipped. With ``global_step``, the step also adds
        one to it (after the updates)."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError("apply_gradients: no (gradient, variable) pair with a gradient")
        for _, v in pairs:
            if not isinstance(v, Variable):
                raise TypeError(f"apply_gradients needs Variables, got {type(v).__name__}")
        graph = get_default_graph()
        with graph.name_scope(name or self._name):
            updates = [self._apply_one(convert_to_tensor(g, dtype=v.dtype), v) for g, v in pairs]
            step = self._finish(updates, [v for _, v in pairs])
            if global_step is None:
                return step
            with graph.control_dependencies([step]):
                one = constant(np.asarray(1, global_step.dtype.as_numpy_dtype))
                return apply_op("AssignAddVariableOp", [global_step.handle, one],
                                {"dtype": global_step.dtype}, name="increment_global_step")

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
        return apply_op("ResourceApplyGradientDescent", [var.handle, _scalar(self.learning_rate, var), grad])


def _scalar(value: Any, var: Variable) -> Any:
    """A hyperparameter as a tensor of the variable's dtype (tensors pass through)."""
    if hasattr(value, "_as_tensor") or hasattr(value, "op"):
        return convert_to_tensor(value, dtype=var.dtype)
    return constant(np.asarray(value, dtype=var.dtype.as_numpy_dtype))


def _filled(var: Variable, fill: float) -> Any:
    """A tensor shaped like ``var`` filled with ``fill``, made on the worker (not shipped)."""
    npd = var.dtype.as_numpy_dtype
    return apply_op("Fill", [constant(np.asarray(var.shape, np.int32).reshape(-1)),
                             constant(np.asarray(fill, npd))]).outputs[0]


def _slot(var: Variable, suffix: str, fill: float) -> Variable:
    """A worker variable shaped like ``var``, filled with ``fill``, called ``<var>/<suffix>``."""
    graph = var.graph
    with graph.control_dependencies(None), graph.name_scope(f"{var.op.name}/{suffix}_init"):
        init = _filled(var, fill)
    return Variable(init, full_name=f"{var.op.name}/{suffix}", trainable=False)


_GLOBAL_STEPS: dict[int, Variable] = {}


def get_global_step(graph: Any = None) -> Variable | None:
    """``tf.train.get_global_step()``: the graph's global step variable, or None."""
    g = graph or get_default_graph()
    return _GLOBAL_STEPS.get(id(g))


def get_or_create_global_step(graph: Any = None) -> Variable:
    """``tf.train.get_or_create_global_step()``: an int64 scalar variable ``global_step``
    starting at 0, one per graph."""
    g = graph or get_default_graph()
    step = _GLOBAL_STEPS.get(id(g))
    if step is None:
        with g.as_default(), g.control_dependencies(None):
            step = Variable(np.int64(0), full_name="global_step", trainable=False)
        _GLOBAL_STEPS[id(g)] = step
    return step


create_global_step = get_or_create_global_step


class MomentumOptimizer(Optimizer):
    """TensorFlow 1's momentum, slot ``accum`` (zeros) per variable::

        accum = momentum * accum + grad
        var -= lr * accum                                     (use_nesterov=False)
        var -= lr * grad + lr * momentum * accum              (use_nesterov=True)
    """

    def __init__(self, learning_rate: float, momentum: float, use_nesterov: bool = False,
                 name: str = "Momentum") -> None:
        super().__init__(name)
        self.learning_rate, self.momentum, self.use_nesterov = learning_rate, momentum, use_nesterov
        self.slots: dict[Variable, Variable] = {}

    def _apply_one(self, grad: Any, var: Variable) -> Operation:
        if var not in self.slots:
            self.slots[var] = _slot(var, "Momentum", 0.0)
        accum = self.slots[var]
        return apply_op("ResourceApplyMomentum",
                        [var.handle, accum.handle, _scalar(self.learning_rate, var), grad,
                         _scalar(self.momentum, var)], {"use_nesterov": self.use_nesterov})


class RMSPropOptimizer(Optimizer):
    """TensorFlow 1's RMSProp; slots ``ms`` (starts at ONE, as TF1) and ``mom`` (zeros)::

        ms = decay * ms + (1 - decay) * grad^2
        mom = momentum * mom + lr * grad / sqrt(ms + epsilon)
        var -= mom

    ``centered=True`` also keeps ``mg`` (mean gradient) and divides by
    ``sqrt(ms - mg^2 + epsilon)``.
    """

    def __init__(self, learning_rate: float, decay: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-10, centered: bool = False, name: str = "RMSProp") -> None:
        super().__init__(name)
        self.learning_rate, self.decay, self.momentum = learning_rate, decay, momentum
        self.epsilon, self.centered = epsilon, centered
        self.slots: dict[Variable, tuple[Variable, ...]] = {}

    def _apply_one(self, grad: Any, var: Variable) -> Operation:
        if var not in self.slots:
            slots = [_slot(var, "RMSProp", 1.0), _slot(var, "RMSProp_1", 0.0)]
            if self.centered:
                slots.append(_slot(var, "RMSProp_2", 0.0))
            self.slots[var] = tuple(slots)
        ms, mom, *mg = self.slots[var]
        hyper = [_scalar(x, var) for x in (self.learning_rate, self.decay, self.momentum, self.epsilon)]
        if self.centered:
            return apply_op("ResourceApplyCenteredRMSProp",
                            [var.handle, mg[0].handle, ms.handle, mom.handle, *hyper, grad])
        return apply_op("ResourceApplyRMSProp", [var.handle, ms.handle, mom.handle, *hyper, grad])


class AdagradOptimizer(Optimizer):
    """TensorFlow 1's Adagrad, slot ``accum`` starting at ``initial_accumulator_value``::

        accum += grad^2;  var -= lr * grad / sqrt(accum)
    """

    def __init__(self, learning_rate: float, initial_accumulator_value: float = 0.1,
                 name: str = "Adagrad") -> None:
        super().__init__(name)
        if initial_accumulator_value <= 0:
            raise ValueError("initial_accumulator_value must be positive")
        self.learning_rate, self.initial_accumulator_value = learning_rate, initial_accumulator_value
        self.slots: dict[Variable, Variable] = {}

    def _apply_one(self, grad: Any, var: Variable) -> Operation:
        if var not in self.slots:
            self.slots[var] = _slot(var, "Adagrad", self.initial_accumulator_value)
        accum = self.slots[var]
        return apply_op("ResourceApplyAdagrad",
                        [var.handle, accum.handle, _scalar(self.learning_rate, var), grad])


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
        m = _slot(var, "Adam", 0.0)
        v = _slot(var, "Adam_1", 0.0)
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


class Saver:
    """``tf.train.Saver()``: saves and restores a named session's variables as the worker's
    checkpoints (``--state-dir/<name>/``; TensorFlow's own format and variable names).

    ``save(sess, save_path=None, global_step=None)`` checkpoints now and returns the
    checkpoint's path on the worker (``save_path`` and ``global_step`` are accepted for
    compatibility; the worker picks the path). ``restore(sess, save_path=None)`` sets the
    variables from that checkpoint (None or a directory: the latest). The session must be
    named (``tf.Session(..., name=...)``).
    """

    def __init__(self, var_list: Any = None, max_to_keep: int = 2, **kwargs: Any) -> None:
        del var_list, max_to_keep, kwargs  # the worker saves every variable, keeps two

    def save(self, sess: Any, save_path: str | None = None, global_step: Any = None,
             **kwargs: Any) -> str:
        """Checkpoints ``sess`` now; returns the checkpoint's path."""
        del save_path, global_step, kwargs
        return str(sess.checkpoint())

    def restore(self, sess: Any, save_path: str | None = None) -> None:
        """Restores ``sess``'s variables from ``save_path`` (a checkpoint path that
        :meth:`save` returned) or, when None, its latest checkpoint."""
        path = save_path or ""
        sess.restore("" if path and "ckpt-" not in path.rsplit("/", 1)[-1] else path)
