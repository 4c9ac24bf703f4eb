"""Initializers computed on the client with numpy, and TensorFlow's random ops.

An initializer is a callable ``init(shape, dtype=float32) -> numpy array``, like
``tf.keras.initializers``; with an explicit ``seed`` it gives the same values on every
call and every machine (numpy's PCG64 generator). Pass its value to ``tf.Variable`` or
the initializer to ``tf.get_variable(..., initializer=init)``: the worker receives the
value, so no random op runs there. ``tf.random.normal`` and friends are different: they are
graph ops that draw fresh values on the worker at every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.graph._apply import apply_op, constant
from gentf.graph._core import Tensor
from gentf.wire import as_dtype

__all__ = [
    "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Initializer",
    "LecunNormal", "Ones", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "Zeros", "random_normal", "random_uniform", "truncated_normal",
]

# Standard deviation of a standard normal truncated to [-2, 2] (keras' variance scaling).
_TRUNCATED_STDDEV = 0.87962566103423978


class Initializer:
    """Base class: ``init(shape, dtype="float32")`` returns a numpy array of that shape."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def __call__(self, shape: Sequence[int], dtype: Any = "float32") -> np.ndarray[Any, Any]:
        d = as_dtype(dtype)
        return np.asarray(self._sample(tuple(int(s) for s in shape)), dtype=d.as_numpy_dtype)

    def _sample(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Zeros(Initializer):
    """All zeros."""

    def _sample(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def _sample(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return np.ones(shape)


class Constant(Initializer):
    """Every entry ``value`` (or ``value`` broadcast to the shape)."""

    def __init__(self, value: Any = 0.0) -> None:
        super().__init__(None)
        self.value = value

    def _sample(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return np.broadcast_to(np.asarray(self.value, dtype=np.float64), shape).copy()


class RandomNormal(Initializer):
    """Normal(mean, stddev) draws."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def _sample(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return self._rng().normal(self.mean, self.stddev, size=shape)


class RandomUniform(Initializer):
    """Uniform[minval, maxval) draws."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def _sample(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return self._rng().uniform(self.minval, self.maxval, size=shape)


def _truncated(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """Standard normal draws, redrawn until they lie within two standard deviations."""
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while np.any(bad):
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out


class TruncatedNormal(Initializer):
    """Normal(mean, stddev) draws, redrawn beyond two standard deviations."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def _sample(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return self.mean + self.stddev * _truncated(self._rng(), shape)


def fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """(fan_in, fan_out) as Keras computes them: a conv kernel ``[..., in, out]`` counts its
    receptive field."""
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = float(np.prod(shape[:-2])) if len(shape) > 2 else 1.0
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(Initializer):
    """Draws with variance ``scale / n``, ``n`` = fan_in, fan_out or their mean (``mode``);
    ``distribution`` is ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None) -> None:
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "normal", "uniform"):
            raise ValueError(f"unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def _sample(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            return np.asarray(rng.uniform(-limit, limit, size=shape))
        if self.distribution == "truncated_normal":
            return np.asarray(np.sqrt(variance) / _TRUNCATED_STDDEV * _truncated(rng, shape))
        return np.asarray(np.sqrt(variance) * rng.standard_normal(size=shape))


class GlorotUniform(VarianceScaling):
    """Uniform in ``±sqrt(6 / (fan_in + fan_out))`` (Xavier)."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    """Truncated normal with stddev ``sqrt(2 / (fan_in + fan_out))``."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeNormal(VarianceScaling):
    """Truncated normal with stddev ``sqrt(2 / fan_in)``."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    """Uniform in ``±sqrt(6 / fan_in)``."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(2.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    """Truncated normal with stddev ``sqrt(1 / fan_in)``."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


def _seeds(seed: int | None) -> tuple[int, int]:
    return (0, 0) if seed is None else (int(seed), int(seed) + 87654321)


def _shape_tensor(shape: Any) -> Tensor:
    return shape if isinstance(shape, Tensor) else constant(np.asarray(shape, np.int32).reshape(-1))


def _scaled(draw: Tensor, mean: float, stddev: float, name: str | None, base: str) -> Tensor:
    npd = draw.dtype.as_numpy_dtype
    out = apply_op("Mul", [draw, constant(np.asarray(stddev, npd))]).outputs[0]
    return apply_op("AddV2", [out, constant(np.asarray(mean, npd))], name=name, default_name=base).outputs[0]


def random_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = "float32",
                  seed: int | None = None, name: str | None = None) -> Tensor:
    """``tf.random.normal(shape, mean=0, stddev=1, dtype=float32, seed=None)``: a worker op
    drawing fresh values at every run (seeded sequence when ``seed`` is given)."""
    s1, s2 = _seeds(seed)
    draw = apply_op("RandomStandardNormal", [_shape_tensor(shape)],
                    {"dtype": as_dtype(dtype), "seed": s1, "seed2": s2}).outputs[0]
    return _scaled(draw, mean, stddev, name, "random_normal")


def truncated_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = "float32",
                     seed: int | None = None, name: str | None = None) -> Tensor:
    """``tf.random.truncated_normal(shape, mean=0, stddev=1, dtype=float32, seed=None)``."""
    s1, s2 = _seeds(seed)
    draw = apply_op("TruncatedNormal", [_shape_tensor(shape)],
                    {"dtype": as_dtype(dtype), "seed": s1, "seed2": s2}).outputs[0]
    return _scaled(draw, mean, stddev, name, "truncated_normal")


def random_uniform(shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: Any = "float32",
                   seed: int | None = None, name: str | None = None) -> Tensor:
    """``tf.random.uniform(shape, minval=0, maxval=1, dtype=float32, seed=None)`` (floats)."""
    s1, s2 = _seeds(seed)
    draw = apply_op("RandomUniform", [_shape_tensor(shape)],
                    {"dtype": as_dtype(dtype), "seed": s1, "seed2": s2}).outputs[0]
    return _scaled(draw, minval, maxval - minval, name, "random_uniform")
