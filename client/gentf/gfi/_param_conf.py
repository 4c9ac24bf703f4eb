"""Parameter update configurations (Gen's ``FixedStepGradientDescent``, ``GradientDescent``, ``ADAM``).

A configuration only describes an update rule; each kind of generative function turns it
into an updater for its own parameters (``GenerativeFunction.make_param_updater``): a
``@gen`` function updates numpy values locally, a ``TFFunction`` builds optimizer ops on its
worker. All rules ascend: accumulated gradients point uphill on the objective.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ADAM", "FixedStepGradientDescent", "GradientDescent", "ParamConf"]


class ParamConf:
    """Base class of parameter update configurations."""


@dataclass(frozen=True)
class FixedStepGradientDescent(ParamConf):
    """``param += step_size * grad``, then the accumulator is zeroed."""

    step_size: float


@dataclass(frozen=True)
class GradientDescent(ParamConf):
    """``param += step_t * grad`` with ``step_t = step_size_init * (step_size_beta + 1) / (step_size_beta + t)``, ``t = 1, 2, ...``."""

    step_size_init: float
    step_size_beta: float


@dataclass(frozen=True)
class ADAM(ParamConf):
    """Adam ascent in TensorFlow 1's epsilon-hat form.

    ``m = b1 m + (1-b1) g``; ``v = b2 v + (1-b2) g^2``;
    ``param += lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)``.
    """

    learning_rate: float
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
