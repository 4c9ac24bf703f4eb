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

import weakref
from collections.abc import Hashable
from typing import Any

import numpy as np
from autograd.core import VJPNode
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.tracer import Box, Node, notrace_primitives

from gentf.dsl._backprop import (
    _PARAMS,
    _backprop,
    _check_flat_args,
    _flatten,
    _is_basic_index,
    _Site,
    cast_arg_grad,
    is_float_value,
)
from gentf.dsl._dataflow import FlowStep, RowBlock
from gentf.dsl._exec import BodyHandler, run_body
from gentf.dsl._map_combinator import Map, MapTrace
from gentf.dsl._trace import CallRecord, ChoiceRecord, GenTrace
from gentf.dsl.distributions._base import Distribution, ElementwiseDistribution
from gentf.gfi._interface import GenerativeFunction
from gentf.gfi._selection import EmptySelection

__all__ = ["accumulate_param_gradients_gen", "direct_param_gradients"]


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
        self.wholes: dict[tuple[int, int], np.ndarray] = {}
        """Each tracked leaf's whole value, by (id of its source, leaf index): the array
        whose rows the body's ``leaf[i]`` reads."""
        self.param_boxes = {name: _DirectBox(np.asarray(self.gen_fn.get_param(name)), params, k,
                                             Ellipsis)
                            for k, name in enumerate(param_names)}
        self.sites: list[tuple[_Site, list[tuple[int, _DirectBox]], tuple[Any, ...]]] = []
        self.choices: list[_Choice | _Run | _DistMap] = []  # tracked choices in order, runs gathered
        self.run: _Run | None = None  # the run the next like choice joins
        self.leaf_boxes: dict[Hashable, list[_DirectBox]] = {}  # each call's tracked leaves

    def read_param(self, name: str) -> Any:
        box = self.param_boxes.get(name)
        return super().read_param(name) if box is None else box

    def visit_choice(self, key: Hashable, dist: Distribution, args: tuple[Any, ...]) -> Any:
        record = self.trace.records.get(key)
        if not isinstance(record, ChoiceRecord):
            raise _NeedsTape  # the autograd replay reports the divergence
        value = record.value
        run = self.run
        if run is not None and run.takes(dist, value, args):
            return value
        tracked = _tracked_args(args)
        if tracked:
            raw = tuple([a._value if isinstance(a, Box) else a for a in args])
            run = _Run.start(dist, value, args, raw)
            self.run = run
            self.choices.append(run if run is not None else (dist, value, tracked, raw))
        return value

    def visit_call(self, key: Hashable, callee: GenerativeFunction, args: tuple[Any, ...]) -> Any:
        record = self.trace.records.get(key)
        if not isinstance(record, CallRecord) or record.callee is not callee:
            raise _NeedsTape
        _check_flat_args(key, args)
        tracked = _tracked_args(args)
        if type(callee) is Map and isinstance(callee.kernel, Distribution) \
                and not callee.kernel.has_output_grad:
            # ``Map(dist)(probs) @ addr``: no parameters and a return value without a
            # gradient, so no site; its argument gradients go where a choice's go
            if tracked:
                raw = tuple([a._value if isinstance(a, Box) else a for a in args])
                self.choices.append(_DistMap(key, callee, record.subtrace,  # type: ignore[arg-type]
                                             tracked, raw))
            return record.subtrace.get_retval()
        site = _Site(key, callee, record.subtrace, _PARAMS, _NOTHING, self.scale)
        raw = tuple([a._value if isinstance(a, Box) else a for a in args])
        self.sites.append((site, tracked, raw))
        if not site.leaves:
            return record.subtrace.get_retval()
        vals, start = [], 0
        for k, leaf in enumerate(site.leaves):
            value = site.flat[start:start + leaf.size].reshape(leaf.shape)
            vals.append(_DirectBox(value, site, k, Ellipsis))
            self.wholes[(id(site), k)] = value
            start += leaf.size
        self.leaf_boxes[key] = vals
        return site.rebuild(vals, True)

    def replay_flow(self, flow: list[FlowStep | RowBlock], body_args: list[Any]) -> None:
        """Visits the calls ``generate`` noted, in order, each argument as the body's
        replay would pass it (see :mod:`gentf.dsl._dataflow`), without running the body."""
        for step in flow:
            if type(step) is RowBlock:
                self._visit_rows(step, body_args)
                continue
            key, callee, args, sources = step  # type: ignore[misc]
            if sources is not None:
                args = tuple([a if s is None else self._resolve(s, body_args)
                              for a, s in zip(args, sources)])
            if isinstance(callee, Distribution):
                self.visit_choice(key, callee, args)
            else:
                self.visit_call(key, callee, args)

    def _visit_rows(self, block: RowBlock, body_args: list[Any]) -> None:
        """Visits ``block.dist(..., a[i], ...) @ key`` for its keys and rows: as one stretch
        of the current run where it can, else one by one (``a[i]`` as the replay makes it)."""
        a = self._resolve(block.of, body_args)
        keys, rows, dist, at = block.keys, block.rows, block.dist, block.at
        template = list(block.args)

        def args_of(i: int) -> tuple[Any, ...]:
            template[at] = a[i]
            return tuple(template)

        if not isinstance(dist, Distribution):
            for key, i in zip(keys, rows):
                self.visit_call(key, dist, args_of(i))
            return
        records = self.trace.records
        values = []
        for key in keys:
            record = records.get(key)
            if not isinstance(record, ChoiceRecord):
                raise _NeedsTape  # the autograd replay reports the divergence
            values.append(record.value)
        if self.run is not None and self.run.takes_rows(dist, values, block.args, at, a, rows):
            return
        self.visit_choice(keys[0], dist, args_of(rows[0]))  # starts a run where it can
        if len(keys) > 1 and (self.run is None or not self.run.takes_rows(
                dist, values[1:], block.args, at, a, rows[1:])):
            for key, i in zip(keys[1:], rows[1:]):
                self.visit_choice(key, dist, args_of(i))

    def _resolve(self, source: tuple[Any, ...], body_args: list[Any]) -> Any:
        kind = source[0]
        if kind == "row":  # ``probs[i]``, as the body's replay indexes it
            return self._resolve(source[1], body_args)[source[2]]
        if kind == "leaf":
            boxes = self.leaf_boxes.get(source[1])
            if boxes is None or source[2] >= len(boxes):
                raise _NeedsTape  # not a tracked leaf after all: let the replay decide
            return boxes[source[2]]
        if kind == "arg":
            return body_args[source[1]]
        return self.read_param(source[1])


_NOTHING = EmptySelection()  # immutable: one for every site

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
    if retval_grad is not None:
        return None
    flow = None if trace.flow is None else trace.flow.steps()
    if flow is None and gen_fn in _NEEDS_TAPE:
        return None
    args = trace.get_args()
    arg_idx = [i for i, a in enumerate(args) if is_float_value(a)] if track_args else []
    param_names = gen_fn.get_params()
    if flow is not None and not arg_idx and not param_names \
            and _calls_into_maps(trace, flow, scale):
        return (None,) * len(args)
    source = _Source([np.shape(args[i]) for i in arg_idx])
    body_args = list(args)
    for k, i in enumerate(arg_idx):
        body_args[i] = _DirectBox(np.asarray(args[i]), source, k, Ellipsis)
    params = _Source([np.shape(gen_fn.get_param(name)) for name in param_names])
    replay = _DirectReplay(trace, scale, params, param_names)
    try:
        if flow is not None:  # generate noted every call: no need to run the body
            replay.replay_flow(flow, body_args)
        else:
            run_body(gen_fn, replay, tuple(body_args))
    except _NeedsTape:
        if flow is None:
            _NEEDS_TAPE.add(gen_fn)
        return None
    except Exception:  # noqa: BLE001 - the autograd replay raises it with its own notes
        return None
    for box in [*(body_args[i] for i in arg_idx), *replay.param_boxes.values()]:
        replay.wholes[(id(box._source), box._k)] = box._value
    _add_choice_gradients(replay.choices, replay.wholes)
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


def accumulate_param_gradients_gen(
    trace: GenTrace, retval_grad: Any, scale_factor: float, track_args: bool = True
) -> tuple[Any, ...]:
    """``arg_grads = accumulate_param_gradients_gen(trace, retval_grad, scale_factor)``.

    A body whose dataflow is direct is differentiated without autograd
    (:func:`direct_param_gradients`); any other body by the autograd replay."""
    direct = direct_param_gradients(trace, retval_grad, float(scale_factor), track_args)
    if direct is not None:
        return direct
    arg_grads, _, _, _ = _backprop(trace, _PARAMS, EmptySelection(), retval_grad,
                                   float(scale_factor), track_args=track_args)
    return arg_grads


def _calls_into_maps(trace: GenTrace, flow: list[FlowStep | RowBlock], scale: float) -> bool:
    """What the replay does, without building it, for the dataflow of most models: calls of
    generative functions on untracked arguments, and ``Map`` calls of a distribution that
    read whole return values of those calls (``probs = net(xs) @ "net";
    Map(categorical)(probs) @ "y"``), or loops of choices on rows of them
    (``categorical(probs[i]) @ ("y", i)``, one :class:`RowBlock`). Each ``Map``'s argument
    gradients (as ``Map`` differentiates them) become the return-value cotangents of the
    calls they read, as does each block's, differentiated as the replay's run of it is
    (:func:`_run_gradients` on the rows of the replay's float64 copy); then the calls
    accumulate in reverse order: the same values, casts and callee calls as the replay's.
    False, having changed nothing, for any other dataflow (a lone choice, a block the
    replay would not make one run, a call on another call's value, a value read twice, a
    tuple returned) or a gradient that fails: the replay then decides."""
    records = trace.records
    calls: list[tuple[Hashable, GenerativeFunction, Any]] = []
    whole: dict[Hashable, np.ndarray] = {}  # call -> its return value, one float array
    maps: list[tuple[Hashable, Map, Any, list[tuple[int, Hashable]]]] = []  # (j, call read)
    read: set[Hashable] = set()
    runs: list[tuple[Hashable, RowBlock, list[Any]]] = []  # (call read, its rows, values)
    for step in flow:
        if type(step) is RowBlock:
            values = _run_of_call_rows(step, records, whole, read)
            if values is None:
                return False
            runs.append((step.of[1], step, values))
            continue
        key, callee, _, sources = step  # type: ignore[misc]
        record = records.get(key)
        if type(record) is not CallRecord or record.callee is not callee:
            return False
        if type(callee) is Map and isinstance(callee.kernel, Distribution) \
                and not callee.kernel.has_output_grad:
            reading = []
            for j, source in enumerate(sources or ()):
                if source is None or source[0] == "arg":
                    continue  # untracked (the function's arguments are, here)
                if source[0] != "leaf" or source[2] != 0 or source[1] not in whole \
                        or source[1] in read:
                    return False
                read.add(source[1])
                reading.append((j, source[1]))
            if reading:
                maps.append((key, callee, record.subtrace, reading))
            continue
        if isinstance(callee, Distribution) or any(
                s is not None and s[0] != "arg" for s in sources or ()):
            return False
        if callee.accepts_output_grad():
            retval = record.subtrace.get_retval()
            if type(retval) is np.ndarray and retval.dtype.kind == "f":
                whole[key] = retval
            elif _flatten(retval)[0]:
                return False  # several leaves, or a float scalar
        calls.append((key, callee, record.subtrace))
    cotangents: dict[Hashable, np.ndarray] = {}
    try:
        for key, map_, subtrace, reading in maps:  # (as _DistMap.add_gradients, in order)
            _, grads = map_._dist_grads(subtrace)
            margs = subtrace.get_args()
            for j, of in reading:
                leaf = whole[of]
                like = margs[j] if j < len(margs) else None
                if type(like) is not np.ndarray or like.shape != leaf.shape:
                    return False
                grad = cast_arg_grad(map_, key, j, grads[j] if j < len(grads) else None, like)
                # the replay's site adds it to nothing in float64, then casts to the leaf's:
                # for a real float gradient of the leaf's type that is the gradient itself
                if grad.dtype == leaf.dtype and grad.dtype.kind == "f":
                    cotangents[of] = grad
                else:
                    cotangents[of] = np.reshape(np.array(grad, dtype=np.float64).ravel(),
                                                leaf.shape).astype(leaf.dtype)
        for of, block, values in runs:  # (as _add_run, then each _Site.backward)
            leaf, at, n = whole[of], block.at, len(values)
            rows = np.array(block.rows)
            full = leaf.astype(np.float64)  # the values of the replay site's float64 copy
            grad = _run_gradients(block.dist, values, tuple(
                [full[rows] if m == at else np.array([a] * n) for m, a in enumerate(block.args)]))[at]
            if grad is not None:
                cotangent = np.zeros(leaf.shape)
                cotangent[rows] += grad
                cotangents[of] = cotangent.astype(leaf.dtype)
    except Exception:  # noqa: BLE001 - the replay raises it (nothing was changed here)
        return False
    for key, callee, subtrace in reversed(calls):  # (as each _Site.backward)
        g = cotangents.get(key)
        if g is None and key in whole:  # nothing flowed into it: zeros
            g = np.zeros(whole[key].shape, dtype=whole[key].dtype)
        callee.accumulate_param_gradients_only(subtrace, g, scale)
    return True


def _run_of_call_rows(block: RowBlock, records: dict[Hashable, Any],
                      whole: dict[Hashable, np.ndarray], read: set[Hashable]) -> list[Any] | None:
    """The choices' values when the replay would differentiate ``block`` as one run of
    rows of the return value of a call in ``whole`` that nothing else reads (marked read):
    an elementwise distribution, at least :data:`MIN_BATCHED_CHOICES` distinct rows, plain
    arguments that are Python numbers, values of one type and shape. None otherwise."""
    of = block.of
    if (of[0] != "leaf" or of[2] != 0 or of[1] not in whole or of[1] in read
            or not isinstance(block.dist, ElementwiseDistribution)
            or len(block.rows) < MIN_BATCHED_CHOICES
            or len(set(block.rows)) != len(block.rows)):
        return None
    for m, a in enumerate(block.args):
        if m != block.at and type(a) not in (int, float):
            return None
    values = []
    for key in block.keys:
        record = records.get(key)
        if not isinstance(record, ChoiceRecord):
            return None
        values.append(record.value)
    vtype = type(values[0])
    vshape = values[0].shape if isinstance(values[0], np.ndarray) else None
    for value in values:
        if type(value) is not vtype or (vshape is not None and value.shape != vshape):
            return None
    read.add(of[1])
    return values


MIN_BATCHED_CHOICES = 8
"""Runs of at least this many like choices are differentiated as one batch."""


class _Run:
    """Consecutive like choices (``dist(probs[i]) @ ("y", i)`` in a loop), gathered as
    the replay meets them: one elementwise distribution, values of one type (and shape),
    and per argument either a row (a non-negative integer index) of the same tracked leaf
    or the same Python number. Such a run is differentiated at once as ``Map(dist)``
    differentiates it: the same per-row gradients, one numpy call instead of one per
    choice."""

    __slots__ = ("dist", "raw", "rows", "single", "spec", "values", "vshape", "vtype")

    dist: Distribution
    spec: tuple[Any, ...]  # per argument: (source, k) of a tracked row, or the number
    vtype: type
    vshape: tuple[int, ...] | None  # the values' shape when they are arrays
    values: list[Any]
    rows: list[list[int]]  # per argument, the row of each choice (empty when a number)
    raw: list[tuple[Any, ...]]  # each choice's arguments, plain
    single: tuple[Any, int] | None  # (source, k) when the one argument is a tracked row

    @classmethod
    def start(cls, dist: Distribution, value: Any, args: tuple[Any, ...],
              raw: tuple[Any, ...]) -> _Run | None:
        """A run of one choice, or None when the choice cannot be batched (another kind
        of distribution or argument, a tracked argument that is not a row of its leaf)."""
        if not isinstance(dist, ElementwiseDistribution):
            return None
        spec: list[Any] = []
        rows: list[list[int]] = []
        for arg in args:
            if isinstance(arg, _DirectBox):
                idx = arg._idx
                if type(idx) is not int or idx < 0:
                    return None
                spec.append((arg._source, arg._k))
                rows.append([idx])
            elif type(arg) in (int, float):
                spec.append(arg)
                rows.append([])
            else:
                return None
        run = cls()
        run.dist, run.spec, run.rows = dist, tuple(spec), rows
        run.vtype = type(value)
        run.vshape = value.shape if isinstance(value, np.ndarray) else None
        run.values, run.raw = [value], [raw]
        run.single = spec[0] if len(spec) == 1 and rows[0] else None
        return run

    def takes_rows(self, dist: Distribution, values: list[Any], args: tuple[Any, ...],
                   at: int, leaf: Any, rows: list[int]) -> bool:
        """Adds the choices ``dist(*args)`` with argument ``at`` replaced by ``leaf[i]`` for
        ``i`` in ``rows`` (not negative), with ``values``, when they are all like the
        run's, ``leaf`` a tracked leaf's box; False, adding nothing, otherwise."""
        spec, vtype, single = self.spec, self.vtype, self.single
        if (dist is not self.dist or len(spec) != len(args) or type(leaf) is not _DirectBox
                or leaf._idx is not Ellipsis):
            return False
        if single is not None:  # the common case, ``dist(probs[i])``
            if leaf._source is not single[0] or leaf._k != single[1]:
                return False
        else:
            for m, want in enumerate(spec):
                if m == at:
                    if (type(want) is not tuple or want[0] is not leaf._source
                            or want[1] != leaf._k):
                        return False
                elif type(args[m]) is not type(want) or args[m] != want:
                    return False
        for value in values:
            if type(value) is not vtype:
                return False
        if self.vshape is not None:
            for value in values:
                if getattr(value, "shape", None) != self.vshape:
                    return False
        self.rows[at].extend(rows)
        self.values.extend(values)
        array = leaf._value
        if single is not None:
            self.raw.extend([(array[i],) for i in rows])
            return True
        plain = list(args)
        for i in rows:
            plain[at] = array[i]
            self.raw.append(tuple(plain))
        return True

    def takes(self, dist: Distribution, value: Any, args: tuple[Any, ...]) -> bool:
        """Adds the choice when it is like the run's; False (nothing added) otherwise."""
        if dist is not self.dist or type(value) is not self.vtype or len(args) != len(self.spec):
            return False
        if self.vshape is not None and getattr(value, "shape", None) != self.vshape:
            return False
        single = self.single
        if single is not None:  # the common case, ``dist(probs[i])``: one check each
            arg = args[0]
            if (type(arg) is not _DirectBox or arg._source is not single[0]
                    or arg._k != single[1]):
                return False
            idx = arg._idx
            if type(idx) is not int or idx < 0:
                return False
            self.rows[0].append(idx)
            self.values.append(value)
            self.raw.append((arg._value,))
            return True
        for arg, want in zip(args, self.spec):
            if type(arg) is _DirectBox:
                idx = arg._idx
                if (type(want) is not tuple or arg._source is not want[0] or arg._k != want[1]
                        or type(idx) is not int or idx < 0):
                    return False
            elif type(arg) is not type(want) or arg != want:
                return False
        for arg, rows in zip(args, self.rows):
            if type(arg) is _DirectBox:
                rows.append(arg._idx)
        self.values.append(value)
        self.raw.append(tuple([a._value if type(a) is _DirectBox else a for a in args]))
        return True

    def __len__(self) -> int:
        return len(self.values)

    def choices(self) -> list[_Choice]:
        """The run's choices one by one, as the replay records a choice."""
        out: list[_Choice] = []
        for c, (value, raw) in enumerate(zip(self.values, self.raw)):
            tracked = [(j, _DirectBox(raw[j], want[0], want[1], rows[c]))
                       for j, (want, rows) in enumerate(zip(self.spec, self.rows)) if rows]
            out.append((self.dist, value, tracked, raw))
        return out


_Choice = tuple[Distribution, Any, list[tuple[int, _DirectBox]], tuple[Any, ...]]


def _run_argument(run: _Run, a: int, wholes: dict[tuple[int, int], np.ndarray]) -> np.ndarray:
    """Argument ``a`` of a run's choices, stacked: the rows of the tracked leaf it reads
    (``leaf[rows]``, one gather), or the choices' own values when the leaf is not known."""
    source, k = run.spec[a]
    whole = wholes.get((id(source), k))
    if whole is not None:
        rows: np.ndarray = whole[np.array(run.rows[a])]  # the rows the body's ``leaf[i]`` read
        return rows
    # np.array stacks equal-shaped rows as np.stack does, in C (np.stack: a call per row)
    return np.array([r[a] for r in run.raw])


class _DistMap:
    """A ``Map`` call of a distribution at ``key`` with tracked arguments: a vector of
    choices, differentiated as ``Map`` does (its recorded ``trace``); ``raw``: the
    arguments' values."""

    __slots__ = ("key", "map", "raw", "trace", "tracked")

    def __init__(self, key: Hashable, map_: Map, trace: MapTrace,
                 tracked: list[tuple[int, _DirectBox]], raw: tuple[Any, ...]) -> None:
        self.key, self.map, self.trace, self.tracked, self.raw = key, map_, trace, tracked, raw

    def add_gradients(self) -> None:
        """Adds the log density's gradient into the sources of the tracked arguments."""
        _, grads = self.map._dist_grads(self.trace)
        args = self.trace.get_args()  # as ``generate`` had them: a cast to them copies nothing
        for j, box in self.tracked:
            grad = grads[j] if j < len(grads) else None
            like = self.raw[j]  # the replay's: its shape is checked
            if j < len(args) and type(args[j]) is np.ndarray and args[j].shape == np.shape(like):
                like = args[j]
            box._source.add_direct(box._k, box._idx,
                                   cast_arg_grad(self.map, self.key, j, grad, like))


def _add_choice_gradients(choices: list[_Choice | _Run | _DistMap],
                          wholes: dict[tuple[int, int], np.ndarray]) -> None:
    """Adds each choice's log-density gradient into the sources of its tracked arguments,
    in the body's order: a run of at least :data:`MIN_BATCHED_CHOICES` like choices at
    once, a ``Map`` of a distribution as ``Map`` differentiates it, any other choice by
    itself."""
    for item in choices:
        if isinstance(item, _DistMap):
            item.add_gradients()
            continue
        if isinstance(item, _Run):
            if len(item) >= MIN_BATCHED_CHOICES:
                _add_run(item, wholes)
                continue
            singles = item.choices()
        else:
            singles = [item]
        for dist, value, tracked, raw in singles:
            grads = dist.logpdf_grad(value, *raw)
            for a, box in tracked:
                g = grads[1 + a]
                if g is not None:
                    box._source.add_direct(box._k, box._idx, g)


def _run_gradients(dist: Distribution, values: list[Any], args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The argument gradients of choices ``dist(*row) @ ...`` with ``values``, each argument
    stacked over the choices (``args``), as ``Map(dist)`` differentiates them."""
    kernel = Map(dist)
    stacked = kernel._stack_values(values)
    return kernel._dist_grads(MapTrace(kernel, args, np.zeros(len(values)), values=stacked))[1]


def _add_run(run: _Run, wholes: dict[tuple[int, int], np.ndarray]) -> None:
    n = len(run)
    args = tuple([_run_argument(run, a, wholes) if rows else np.array([want] * n)
                  for a, (want, rows) in enumerate(zip(run.spec, run.rows))])
    arg_grads = _run_gradients(run.dist, run.values, args)
    for a, grad in enumerate(arg_grads):
        rows_list = run.rows[a]
        if grad is None or not rows_list:
            continue
        source, k = run.spec[a]
        if len(set(rows_list)) == len(rows_list):  # (ints: a set, not np.unique's sort)
            source.add_direct(k, np.array(rows_list), grad)
        else:  # a row chosen twice adds twice: one at a time
            for row, g in zip(rows_list, grad):
                source.add_direct(k, row, g)
