"""Parameter gradients of a ``@gen`` body without autograd, when its dataflow is direct.

Gen.jl's way: distributions carry their own ``logpdf_grad`` and generative functions their
own ``accumulate_param_gradients``; a tape is needed only where user code computes with a
value that carries a gradient. Many models never do: each call's return value, or a plain
element or slice of it, goes straight into another call or random choice
(``probs = net(xs) @ "net"; Map(categorical)(probs) @ "y"``). For those the reverse pass
is just the calls in reverse order, each handing its argument gradients to the call that
produced the argument.

:func:`direct_param_gradients` replays the body once with every tracked value (a call's
float return leaves and the function's float arguments) as a :class:`_DirectBox`. The box
is an autograd ``ArrayBox`` (so the body sees what the autograd replay shows it) whose
node type refuses to be built: the moment user code applies an autograd primitive to a
tracked value, :class:`_NeedsTape` is raised, nothing has been changed yet (callees are
only called at the end), and the caller runs the autograd replay instead. Results are
those of the autograd replay: the same callee calls with the same cotangents, the same
float64 values, the same casts.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Hashable
from typing import Any

import numpy as np
from autograd.core import VJPNode
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.tracer import Box, Node, notrace_primitives

from gentf.dsl._backprop import (
    _PARAMS,
    _check_flat_args,
    _is_basic_index,
    _Site,
    is_float_value,
)
from gentf.dsl._exec import BodyHandler, run_body
from gentf.dsl._trace import CallRecord, ChoiceRecord, GenTrace
from gentf.dsl.distributions._base import Distribution, ElementwiseDistribution
from gentf.gfi._interface import GenerativeFunction
from gentf.gfi._selection import EmptySelection

__all__ = ["direct_param_gradients"]


class _NeedsTape(BaseException):
    """The body computed with a tracked value: only the autograd replay can differentiate
    it. A BaseException, so a body's own ``except Exception`` cannot swallow it."""


class _RefusingNode(Node):  # type: ignore[misc]
    """Autograd builds a node of its input's node type for every primitive it traces; for
    a direct box that means user code computed with a tracked value."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _NeedsTape

    def initialize_root(self, *args: Any, **kwargs: Any) -> None:
        """Never a root: the direct replay starts no autograd trace."""


notrace_primitives[_RefusingNode] = notrace_primitives[VJPNode]  # shape queries, comparisons
_REFUSING = _RefusingNode.__new__(_RefusingNode)
_TRACE_ID = 1 << 30
"""A trace id above any live autograd trace: a direct box wins ``find_top_boxed_args``."""


class _Source:
    """Tracked inputs of the body (its float arguments, or its parameters) as a gradient
    source: leaf ``k`` has shape ``shapes[k]``; ``direct`` holds the cotangents added."""

    def __init__(self, shapes: list[tuple[int, ...]]) -> None:
        self.shapes = shapes
        self.direct: dict[int, np.ndarray] = {}

    def grad(self, k: int) -> np.ndarray:
        """Leaf ``k``'s cotangent (zeros when nothing flowed into it)."""
        g = self.direct.get(k)
        return np.zeros(self.shapes[k]) if g is None else g

    def add_direct(self, k: int, idx: Any, grad: Any) -> None:
        """Adds ``grad`` into the cotangent of argument leaf ``k`` at ``idx``."""
        buf = self.direct.get(k)
        if buf is None:
            buf = self.direct[k] = np.zeros(self.shapes[k])
        buf[idx] += grad


class _DirectBox(ArrayBox):  # type: ignore[misc]
    """A tracked value in the direct replay: a source's leaf, or a plain element or slice
    of one (``_idx``); any other use by an autograd primitive raises :class:`_NeedsTape`."""

    __slots__ = ("_idx", "_k", "_source")

    def __init__(self, value: Any, source: Any, k: int, idx: Any) -> None:
        # Box.__init__'s three fields, set here: one call less per element read
        self._value, self._trace, self._node = value, _TRACE_ID, _REFUSING  # type: ignore[misc]
        self._source, self._k, self._idx = source, k, idx

    def __getitem__(self, idx: Any) -> Any:
        if self._idx is not Ellipsis or (type(idx) is not int and not _is_basic_index(idx)):
            raise _NeedsTape  # nested or fancy indexing: the tape adds repeats correctly
        return _DirectBox(self._value[idx], self._source, self._k, idx)


Box.types.add(_DirectBox)


def _tracked_args(args: tuple[Any, ...]) -> list[tuple[int, _DirectBox]]:
    """``[(j, box)]`` for the tracked arguments of a call or choice; raises
    :class:`_NeedsTape` for a box of another kind (an outer autograd trace)."""
    found = []
    for j, a in enumerate(args):
        if isinstance(a, _DirectBox):
            found.append((j, a))
        elif isinstance(a, Box):
            raise _NeedsTape
    return found


class _DirectReplay(BodyHandler):
    """Replays the body with direct boxes: records each call's site and tracked arguments,
    scores nothing (only gradients are asked for) and calls no callee."""

    def __init__(self, trace: GenTrace, scale: float, params: _Source,
                 param_names: list[str]) -> None:
        super().__init__(trace.get_gen_fn())
        self.trace = trace
        self.scale = scale
        self.params = params
        self.param_boxes = {name: _DirectBox(np.asarray(self.gen_fn.get_param(name)), params, k,
                                             Ellipsis)
                            for k, name in enumerate(param_names)}
        self.sites: list[tuple[_Site, list[tuple[int, _DirectBox]], tuple[Any, ...]]] = []
        self.choices: list[tuple[Distribution, Any, list[tuple[int, _DirectBox]],
                                 tuple[Any, ...]]] = []

    def read_param(self, name: str) -> Any:
        box = self.param_boxes.get(name)
        return super().read_param(name) if box is None else box

    def visit_choice(self, key: Hashable, dist: Distribution, args: tuple[Any, ...]) -> Any:
        record = self.trace.records.get(key)
        if not isinstance(record, ChoiceRecord):
            raise _NeedsTape  # the autograd replay reports the divergence
        tracked = _tracked_args(args)
        if tracked:
            raw = tuple([a._value if isinstance(a, Box) else a for a in args])
            self.choices.append((dist, record.value, tracked, raw))
        return record.value

    def visit_call(self, key: Hashable, callee: GenerativeFunction, args: tuple[Any, ...]) -> Any:
        record = self.trace.records.get(key)
        if not isinstance(record, CallRecord) or record.callee is not callee:
            raise _NeedsTape
        _check_flat_args(key, args)
        tracked = _tracked_args(args)
        site = _Site(key, callee, record.subtrace, _PARAMS, EmptySelection(), self.scale)
        raw = tuple(a._value if isinstance(a, Box) else a for a in args)
        self.sites.append((site, tracked, raw))
        if not site.leaves:
            return record.subtrace.get_retval()
        vals, start = [], 0
        for k, leaf in enumerate(site.leaves):
            value = site.flat[start:start + leaf.size].reshape(leaf.shape)
            vals.append(_DirectBox(value, site, k, Ellipsis))
            start += leaf.size
        return site.rebuild(vals, True)


_NEEDS_TAPE: weakref.WeakSet[Any] = weakref.WeakSet()
"""Functions whose body needed the tape once: the direct replay is not tried again."""


def direct_param_gradients(
    trace: GenTrace, retval_grad: Any, scale: float, track_args: bool
) -> tuple[Any, ...] | None:
    """``accumulate_param_gradients`` of a ``@gen`` trace without autograd: the argument
    gradients (None where an argument has none, all None unless ``track_args``), with
    every call's parameter gradients accumulated; or None, having changed nothing, when
    the body computes with a tracked value (use the autograd replay)."""
    gen_fn = trace.get_gen_fn()
    if retval_grad is not None or gen_fn in _NEEDS_TAPE:
        return None
    args = trace.get_args()
    arg_idx = [i for i, a in enumerate(args) if is_float_value(a)] if track_args else []
    source = _Source([np.shape(args[i]) for i in arg_idx])
    body_args = list(args)
    for k, i in enumerate(arg_idx):
        body_args[i] = _DirectBox(np.asarray(args[i]), source, k, Ellipsis)
    param_names = gen_fn.get_params()
    params = _Source([np.shape(gen_fn.get_param(name)) for name in param_names])
    replay = _DirectReplay(trace, scale, params, param_names)
    try:
        run_body(gen_fn, replay, tuple(body_args))
    except _NeedsTape:
        _NEEDS_TAPE.add(gen_fn)
        return None
    except Exception:  # noqa: BLE001 - the autograd replay raises it with its own notes
        return None
    _add_choice_gradients(replay.choices)
    for site, tracked, raw in reversed(replay.sites):
        arg_grads = site.backward(None, need_arg_grads=bool(tracked))
        for j, box in tracked:
            grad = arg_grads[j] if j < len(arg_grads) else None
            box._source.add_direct(box._k, box._idx, site.cast_arg_grad(j, grad, raw[j]))
    for k, name in enumerate(param_names):
        gen_fn.add_param_grad(name, scale * params.grad(k))
    out: list[Any] = [None] * len(args)
    for k, i in enumerate(arg_idx):
        arg, g = args[i], source.grad(k)
        out[i] = g.astype(arg.dtype) if isinstance(arg, np.ndarray) else float(g)
    return tuple(out)


_Choice = tuple[Distribution, Any, list[tuple[int, _DirectBox]], tuple[Any, ...]]

MIN_BATCHED_CHOICES = 8
"""Runs of at least this many like choices are differentiated as one batch."""


def _add_choice_gradients(choices: list[_Choice]) -> None:
    """Adds each choice's log-density gradient into the sources of its tracked arguments.

    A run of consecutive choices of one elementwise distribution, each of whose arguments
    is a row (an integer index) of the same tracked leaf, with values and rows of one shape,
    (other arguments: the same scalar) is differentiated at once as ``Map(dist)``
    differentiates it (``dist(probs[i]) @ ("y", i)`` in a loop): the same per-row
    gradients, one numpy call instead of one per choice."""
    patterns = [_row_pattern(c) for c in choices]
    at = 0
    for pattern, group in itertools.groupby(patterns):
        n = len(list(group))
        run, at = choices[at:at + n], at + n
        if pattern is not None and n >= MIN_BATCHED_CHOICES:
            _add_run(run)
            continue
        for dist, value, tracked, raw in run:
            grads = dist.logpdf_grad(value, *raw)
            for a, box in tracked:
                g = grads[1 + a]
                if g is not None:
                    box._source.add_direct(box._k, box._idx, g)


def _row_pattern(choice: _Choice) -> tuple[Any, ...] | None:
    """What a choice must share with its run: the distribution, the value's type and shape,
    per argument either its source leaf, shape and dtype (a tracked row) or its value (an
    untracked scalar); None when it cannot be batched (another kind of argument, or a
    tracked one that is not a non-negative integer row of its leaf)."""
    dist, value, tracked, raw = choice
    if not isinstance(dist, ElementwiseDistribution) or not tracked:
        return None
    # tracked is in argument order: when every argument is tracked, position j has box j
    boxes = None if len(tracked) == len(raw) else dict(tracked)
    pattern: list[Any] = [dist, type(value), getattr(value, "shape", ())]
    for position, arg in enumerate(raw):
        box = tracked[position][1] if boxes is None else boxes.get(position)
        if box is None:
            if not isinstance(arg, (int, float)) or isinstance(arg, bool):
                return None
            pattern.append(("same", float(arg)))
            continue
        idx = box._idx
        if (type(idx) is not int and not isinstance(idx, np.integer)) or idx < 0:
            return None
        shape, dtype = getattr(arg, "shape", None), getattr(arg, "dtype", None)
        if shape is None or dtype is None:  # a Python number: numpy's view of it
            shape, dtype = np.shape(arg), np.result_type(arg)
        pattern.append((id(box._source), box._k, shape, dtype))
    return tuple(pattern)


def _add_run(run: list[_Choice]) -> None:
    from gentf.dsl._map_combinator import Map, MapTrace

    dist = run[0][0]
    kernel = Map(dist)
    values = kernel._stack_values([c[1] for c in run])
    args = tuple(np.stack([c[3][a] for c in run]) for a in range(len(run[0][3])))
    _, arg_grads = kernel._dist_grads(MapTrace(kernel, args, np.zeros(len(run)), values=values))
    boxes = dict(run[0][2])
    for a, grad in enumerate(arg_grads):
        box = boxes.get(a)
        if grad is None or box is None:
            continue
        rows = np.array([next(b for j, b in c[2] if j == a)._idx for c in run])
        if len(np.unique(rows)) == len(rows):
            box._source.add_direct(box._k, rows, grad)
        else:  # a row chosen twice adds twice: one at a time
            for row, g in zip(rows, grad):
                box._source.add_direct(box._k, int(row), g)
