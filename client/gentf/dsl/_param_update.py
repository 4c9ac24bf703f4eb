"""Local parameter updates for ``@gen`` functions (numpy, on the client).

Each rule steps along the accumulated gradient (ascent, Gen's convention) and then zeroes
the accumulator. The rules are those of ``gentf.gfi._param_conf`` (ADAM in TensorFlow 1's
epsilon-hat form, so a ``@gen`` parameter and a worker-side TFFunction parameter follow
the same trajectory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gentf.gfi._param_conf import ADAM, FixedStepGradientDescent, GradientDescent, ParamConf

if TYPE_CHECKING:
    from gentf.dsl._gen_fn import GenFunction

__all__ = ["LocalParamUpdater"]


class LocalParamUpdater:
    """``updater.apply()``: one update step of the listed parameters of a ``@gen`` function."""

    def __init__(self, gen_fn: GenFunction, conf: ParamConf, names: list[str]) -> None:
        if not isinstance(conf, (FixedStepGradientDescent, GradientDescent, ADAM)):
            raise TypeError(
                f"expected FixedStepGradientDescent, GradientDescent or ADAM; got "
                f"{type(conf).__name__}"
            )
        if not names:
            raise ValueError(f"no parameters of {gen_fn.name} listed for the update")
        for name in names:
            gen_fn.get_param(name)  # raises KeyError naming the declared parameters
        self.gen_fn = gen_fn
        self.conf = conf
        self.names = names
        self.t = 0
        self.m = {n: np.zeros_like(gen_fn.get_param(n)) for n in names}
        self.v = {n: np.zeros_like(gen_fn.get_param(n)) for n in names}

    def apply(self) -> None:
        """Updates each parameter from its accumulated gradient, then zeroes the gradient."""
        self.t += 1
        conf = self.conf
        for name in self.names:
            theta = np.array(self.gen_fn.get_param(name))
            g = self.gen_fn.get_param_grad(name)
            if isinstance(conf, FixedStepGradientDescent):
                theta = theta + conf.step_size * g
            elif isinstance(conf, GradientDescent):
                step = conf.step_size_init * (conf.step_size_beta + 1) / (conf.step_size_beta + self.t)
                theta = theta + step * g
            else:
                self.m[name] = conf.beta1 * self.m[name] + (1 - conf.beta1) * g
                self.v[name] = conf.beta2 * self.v[name] + (1 - conf.beta2) * g * g
                lr_t = conf.learning_rate * np.sqrt(1 - conf.beta2 ** self.t) / (1 - conf.beta1 ** self.t)
                theta = theta + lr_t * self.m[name] / (np.sqrt(self.v[name]) + conf.epsilon)
            self.gen_fn.set_param(name, theta)
            self.gen_fn.zero_param_grad(name)
