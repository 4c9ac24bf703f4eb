"""The distribution base classes: sample, logpdf, logpdf_grad (Gen's way: analytic gradients).

A distribution computes its log density and its gradient in plain numpy. ``logpdf`` is an
autograd primitive only when one of its inputs carries a gradient (an autograd ``Box``,
inside a gradient replay of a ``@gen`` body or a user's ``autograd.grad``): its
vector-Jacobian product is built from ``logpdf_grad``, so a random choice costs one node
of the tape, never a replay of the density's arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp_argnums, primitive
from autograd.tracer import Box

from gentf.dsl._rng import get_rng
from gentf.gfi._pending import _STACK, pending_call

__all__ = ["Distribution", "ElementwiseDistribution", "unbroadcast"]


_PLAIN_ARGS = frozenset({np.ndarray, float, int})
"""Argument types that are neither autograd boxes nor lists (checked first: the common case)."""


class Distribution:
    """A primitive probability distribution over one (possibly array-valued) choice.

    Subclasses set ``name``, ``is_discrete``, ``has_output_grad``, ``has_argument_grads``
    and write :meth:`sample`, :meth:`_logpdf` and :meth:`_logpdf_grad` in numpy. For
    batched (broadcast) arguments the log density is the SUM of the elementwise log
    densities, a scalar. A subclass may instead write :meth:`logpdf` itself with
    ``autograd.numpy`` (as in Gen): :meth:`_logpdf` then calls it, and
    :meth:`_logpdf_grad` differentiates it with autograd.

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

    def _logpdf(self, value: Any, *args: Any) -> float:
        """The log density as a float (numpy only; no input is an autograd Box). By
        default, the subclass's own :meth:`logpdf`."""
        if type(self).logpdf is Distribution.logpdf:
            raise NotImplementedError(f"{type(self).__name__}._logpdf (or logpdf)")
        return float(self.logpdf(value, *args))

    def _logpdf_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """Gradients of :meth:`_logpdf` for every input, shaped like it; ``None`` where the
        distribution has none (numpy only). By default, autograd's gradients of the
        subclass's own :meth:`logpdf` in the inputs that have them."""
        if type(self).logpdf is Distribution.logpdf:
            raise NotImplementedError(f"{type(self).__name__}._logpdf_grad (or logpdf)")
        return _autograd_logpdf_grad(self, (value, *args))

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``lp = dist.logpdf(value, *args)``: the log density (mass), summed over a batch.

        ``-inf`` outside the support. A float for plain inputs; differentiable with autograd
        (through :meth:`logpdf_grad`) in ``value`` (if ``has_output_grad``) and in the
        arguments flagged in ``has_argument_grads`` when they are autograd-tracked.
        """
        if isinstance(value, Box):
            return _logpdf_primitive(self, value, *args)
        lists = False
        for a in args:  # one pass: a Box anywhere wins over a list before it
            if type(a) in _PLAIN_ARGS:
                continue
            if isinstance(a, Box):
                return _logpdf_primitive(self, value, *args)
            if isinstance(a, (list, tuple)):
                lists = True
        if lists:
            return _logpdf_of_lists(self, value, args)
        return self._logpdf(value, *args)

    def logpdf_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``(value_grad, *arg_grads) = dist.logpdf_grad(value, *args)``.

        Gradients of :meth:`logpdf`, each shaped like its input; ``None`` where there is
        none (a discrete value, an argument not flagged in ``has_argument_grads``).
        """
        args = tuple(np.asarray(a) if isinstance(a, (list, tuple)) else a for a in args)
        grads = self._logpdf_grad(value, *args)
        flags = (self.has_output_grad, *self._argument_flags(len(args)))
        return tuple(g if flag else None for g, flag in zip(grads, flags))

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
        if _STACK:  # inside a body (``active_handler()``, without the call)
            return pending_call(self, args, _STACK[-1])
        return self.untraced_call(args)

    def __repr__(self) -> str:
        return self.name


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """``g = unbroadcast(grad, shape)``: ``grad`` summed over the axes broadcasting added to
    an input of ``shape`` (a float for ``shape == ()``)."""
    g = np.asarray(grad)
    if g.shape != shape:
        extra = g.ndim - len(shape)
        if extra > 0:
            g = g.sum(axis=tuple(range(extra)))
        axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
        if axes:
            g = g.sum(axis=axes, keepdims=True)
        if g.shape != shape:
            g = np.broadcast_to(g, shape).copy()
    return float(g) if not shape else g


class ElementwiseDistribution(Distribution):
    """A distribution whose log density is a sum of elementwise terms over broadcast inputs.

    Subclasses write :meth:`logpdf_terms` (the elementwise log densities, broadcast shape)
    and :meth:`logpdf_terms_grad` (each term's derivative with respect to each input's
    matching element). ``event_dims[j]``: trailing axes of argument ``j`` that belong to
    one element (1 for categorical's probabilities; 0 otherwise). Such a distribution
    scores a whole batch with one numpy call: ``Map`` uses it.
    """

    event_dims: tuple[int, ...] = ()

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """The elementwise log densities (an array of the batch shape, ``-inf`` outside the
        support); their sum is :meth:`logpdf`."""
        raise NotImplementedError(f"{type(self).__name__}.logpdf_terms")

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """For each input, the derivative of each term with respect to the input's element
        (broadcastable to the batch shape plus the input's event axes); ``None`` where the
        distribution has no gradient."""
        raise NotImplementedError(f"{type(self).__name__}.logpdf_terms_grad")

    def _event_dims(self, n_args: int) -> tuple[int, ...]:
        dims = self.event_dims
        return dims + (0,) * (n_args - len(dims)) if len(dims) < n_args else dims[:n_args]

    def batch_shape(self, value: Any, *args: Any) -> tuple[int, ...]:
        """The broadcast shape of the inputs without their event axes (the terms' shape)."""
        first: tuple[int, ...] = value.shape if type(value) is np.ndarray else tuple(np.shape(value))
        dims = self.event_dims
        shapes = [first]
        same = True
        for j, a in enumerate(args):
            s = a.shape if type(a) is np.ndarray else np.shape(a)
            e = dims[j] if j < len(dims) else 0
            if e:
                s = s[:len(s) - e]
            same = same and s == first
            shapes.append(s)
        return first if same else _broadcast_shapes(shapes)

    def _logpdf(self, value: Any, *args: Any) -> float:
        return float(np.sum(self.logpdf_terms(value, *args)))

    def _logpdf_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        full = self.batch_shape(value, *args)
        grads = self.logpdf_terms_grad(value, *args)
        events = (0, *self._event_dims(len(args)))
        out: list[Any] = []
        for x, g, e in zip((value, *args), grads, events):
            if g is None:
                out.append(None)
                continue
            shape = np.shape(x)
            target = full + (shape[len(shape) - e:] if e else ())
            out.append(unbroadcast(np.broadcast_to(g, target), shape))
        return tuple(out)


def _broadcast_shapes(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """numpy's broadcast of ``shapes`` (ValueError if they do not broadcast)."""
    rank = max(len(s) for s in shapes)
    out = [1] * rank
    for s in shapes:
        for i, d in enumerate(s, start=rank - len(s)):
            if d != 1:
                if out[i] not in (1, d):
                    raise ValueError(f"shapes {shapes} do not broadcast together")
                out[i] = d
    return tuple(out)


def _autograd_logpdf_grad(dist: Distribution, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """Gradients of ``dist.logpdf(*inputs)`` (a subclass's own, in autograd.numpy) in the
    float inputs its flags give gradients to; None elsewhere."""
    from autograd import make_vjp

    flags = (dist.has_output_grad, *dist._argument_flags(len(inputs) - 1))
    wanted = [j for j, (x, flag) in enumerate(zip(inputs, flags))
              if flag and np.issubdtype(np.asarray(x).dtype, np.floating)]
    grads: list[Any] = [None] * len(inputs)
    if not wanted:
        return tuple(grads)

    def of_wanted(chosen: tuple[Any, ...]) -> Any:
        full = list(inputs)
        for j, x in zip(wanted, chosen):
            full[j] = x
        return dist.logpdf(*full)

    vjp, _ = make_vjp(of_wanted)(tuple(inputs[j] for j in wanted))
    for j, g in zip(wanted, vjp(1.0)):
        grads[j] = g if np.ndim(inputs[j]) else float(g)
    return tuple(grads)


def _logpdf_impl(dist: Distribution, value: Any, *args: Any) -> Any:
    return dist._logpdf(value, *args)


_logpdf_primitive: Callable[..., Any] = primitive(_logpdf_impl)


def _logpdf_vjp(
    argnums: list[int], ans: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Callable[[Any], list[Any]]:
    dist: Distribution = args[0]
    grads = dist._logpdf_grad(*args[1:])

    def vjp(g: Any) -> list[Any]:
        out: list[Any] = []
        for n in argnums:
            grad = grads[n - 1]
            x = args[n]
            if grad is None:
                out.append(np.zeros_like(x, dtype=np.float64) if np.ndim(x) else 0.0)
            else:
                out.append(g * grad)
        return out

    return vjp


defvjp_argnums(_logpdf_primitive, _logpdf_vjp)


def _logpdf_of_lists(dist: Distribution, value: Any, args: tuple[Any, ...]) -> Any:
    """Arguments given as lists (of floats or of tracked values) become arrays first."""
    arrays = tuple(anp.array(a) if isinstance(a, (list, tuple)) else a for a in args)
    return dist.logpdf(value, *arrays)
