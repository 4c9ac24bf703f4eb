"""A deterministic generative function written with numpy, with TFFunction's contract.

``Linear(W)`` computes ``W @ x`` (optionally in float32, like a TF network) and keeps a
gradient accumulator for ``W`` on the client. It is a real implementation of the
interface that the tests use to exercise the DSL's treatment of callees without a
worker; it counts how often each gradient method is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gentf.gfi import (
    ChoiceMap,
    Diff,
    EmptyChoiceMap,
    FixedStepGradientDescent,
    GenerativeFunction,
    Selection,
    Trace,
)


class LinearTrace(Trace):
    def __init__(self, gen_fn: Linear, args: tuple[Any, ...], retval: np.ndarray) -> None:
        self.gen_fn, self.args, self.retval = gen_fn, args, retval

    def get_gen_fn(self) -> Linear:
        return self.gen_fn

    def get_args(self) -> tuple[Any, ...]:
        return self.args

    def get_retval(self) -> Any:
        return self.retval

    def get_choices(self) -> ChoiceMap:
        return EmptyChoiceMap()

    def get_score(self) -> float:
        return 0.0


class Linear(GenerativeFunction):
    def __init__(self, W: Any, dtype: Any = np.float64) -> None:
        self.W = np.array(W, dtype=np.float64)
        self.grad = np.zeros_like(self.W)
        self.dtype = dtype
        self.calls = {"accumulate": 0, "choice_gradients": 0}
        self.retval_grads: list[Any] = []
        self.scales: list[float] = []

    def _run(self, args: tuple[Any, ...]) -> LinearTrace:
        (x,) = args
        y = (self.W @ np.asarray(x, dtype=np.float64)).astype(self.dtype)
        return LinearTrace(self, args, y)

    def simulate(self, args: tuple[Any, ...]) -> Trace:
        return self._run(args)

    def generate(self, args: tuple[Any, ...], constraints: ChoiceMap) -> tuple[Trace, float]:
        return self._run(args), 0.0

    def update(self, trace: Trace, args: tuple[Any, ...], argdiffs: Sequence[Diff],
               constraints: ChoiceMap) -> tuple[Trace, float, Diff, ChoiceMap]:
        from gentf.gfi import UnknownChange
        return self._run(args), 0.0, UnknownChange, EmptyChoiceMap()

    def regenerate(self, trace: Trace, args: tuple[Any, ...], argdiffs: Sequence[Diff],
                   selection: Selection) -> tuple[Trace, float, Diff]:
        from gentf.gfi import UnknownChange
        return self._run(args), 0.0, UnknownChange

    def project(self, trace: Trace, selection: Selection) -> float:
        return 0.0

    def _grads(self, trace: Trace, retval_grad: Any) -> tuple[np.ndarray, np.ndarray]:
        (x,) = trace.get_args()
        g = np.zeros(self.W.shape[0]) if retval_grad is None else np.asarray(retval_grad, np.float64)
        self.retval_grads.append(retval_grad)
        x_grad = (self.W.T @ g).astype(self.dtype)
        return x_grad, np.outer(g, np.asarray(x, dtype=np.float64))

    def choice_gradients(self, trace: Trace, selection: Selection,
                         retval_grad: Any) -> tuple[tuple[Any, ...], ChoiceMap, ChoiceMap]:
        self.calls["choice_gradients"] += 1
        x_grad, _ = self._grads(trace, retval_grad)
        return (x_grad,), EmptyChoiceMap(), EmptyChoiceMap()

    def accumulate_param_gradients(self, trace: Trace, retval_grad: Any,
                                   scale_factor: float) -> tuple[Any, ...]:
        self.calls["accumulate"] += 1
        self.scales.append(scale_factor)
        x_grad, w_grad = self._grads(trace, retval_grad)
        self.grad = self.grad + scale_factor * w_grad
        return (x_grad,)

    def has_argument_grads(self) -> tuple[bool, ...]:
        return (True,)

    def accepts_output_grad(self) -> bool:
        return True

    def get_params(self) -> Sequence[Any]:
        return ["W"]

    def make_param_updater(self, conf: Any, params: Sequence[Any]) -> Any:
        fn = self

        class _Step:
            def apply(self) -> None:
                assert isinstance(conf, FixedStepGradientDescent)
                fn.W = fn.W + conf.step_size * fn.grad
                fn.grad = np.zeros_like(fn.W)

        return _Step()
