"""The distribution base class: sample, logpdf (autograd-differentiable), logpdf_grad."""

from __future__ import annotations

from typing import Any

import autograd
import numpy as np

from gentf.dsl._rng import get_rng
from gentf.gfi._pending import PendingCall, active_handler

__all__ = ["Distribution"]


class Distribution:
    """A primitive probability distribution over one (possibly array-valued) choice.

    Subclasses set ``name``, ``is_discrete``, ``has_output_grad``, ``has_argument_grads``
    and write :meth:`sample` and :meth:`logpdf`. ``logpdf`` is written with
    ``autograd.numpy`` so gradients flow through it; for batched (broadcast) arguments it
    returns the SUM of the elementwise log densities, a scalar.

    Calling a distribution inside a ``@gen`` body returns a pending call: ``dist(args) @
    addr`` makes the traced random choice at ``addr``. Outside a model it samples from the
    modeling layer's generator (see ``gentf.dsl.seed``).
    """

    name: str = "distribution"
    is_discrete: bool = False
    has_output_grad: bool = True
    has_argument_grads: tuple[bool, ...] = ()

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """``value = dist.sample(rng, *args)``: one draw using ``rng``."""
        raise NotImplementedError(f"{type(self).__name__}.sample")

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``lp = dist.logpdf(value, *args)``: the log density (mass), summed over a batch.

        ``-inf`` outside the support. Differentiable with autograd in ``value`` (if
        ``has_output_grad``) and in the arguments flagged in ``has_argument_grads``.
        """
        raise NotImplementedError(f"{type(self).__name__}.logpdf")

    def logpdf_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``(value_grad, *arg_grads) = dist.logpdf_grad(value, *args)``.

        Gradients of :meth:`logpdf`; ``None`` where there is none (a discrete value, an
        argument not flagged in ``has_argument_grads``).
        """
        inputs = (value, *args)
        flags = (self.has_output_grad, *self._argument_flags(len(args)))
        grads: list[Any] = []
        for i, (flag, x) in enumerate(zip(flags, inputs)):
            if not flag:
                grads.append(None)
                continue

            def at_i(v: Any, i: int = i) -> Any:
                return self.logpdf(*inputs[:i], v, *inputs[i + 1:])

            grads.append(autograd.grad(at_i)(np.asarray(x, dtype=np.float64)))
        return tuple(grads)

    def _argument_flags(self, n: int) -> tuple[bool, ...]:
        flags = self.has_argument_grads
        if len(flags) >= n:
            return flags[:n]
        return flags + (False,) * (n - len(flags))

    def untraced_call(self, args: tuple[Any, ...]) -> Any:
        """``value = dist.untraced_call(args)``: a draw from the modeling layer's generator."""
        return self.sample(get_rng(), *args)

    def __call__(self, *args: Any) -> Any:
        """A pending random choice inside a model body; a sample outside one."""
        handler = active_handler()
        if handler is not None:
            return PendingCall(self, tuple(args), handler)
        return self.untraced_call(tuple(args))

    def __repr__(self) -> str:
        return self.name
