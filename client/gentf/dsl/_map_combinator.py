"""Gen's ``Map`` combinator: one kernel applied to every element of vector arguments.

``Map(kernel)(xs, ys) @ addr`` calls ``kernel(xs[i], ys[i])`` for ``i = 0 .. n-1`` and puts
element ``i``'s choices under the hierarchical address ``path(addr, i)``, as Gen.jl's
``Map`` does with ``addr => i``. The kernel is a generative function (applied element by
element) or a distribution: then element ``i``'s choice is the value at ``path(addr, i)``,
and an :class:`~gentf.dsl.distributions.ElementwiseDistribution` scores, samples and
differentiates the whole vector with one numpy call each.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from gentf.dsl._rng import get_rng
from gentf.dsl.distributions._base import Distribution, ElementwiseDistribution, unbroadcast
from gentf.gfi._choicemap import ChoiceMap, EmptyChoiceMap
from gentf.gfi._diffs import Diff, NoChange, UnknownChange
from gentf.gfi._interface import GenerativeFunction, ParamUpdater, Trace
from gentf.gfi._param_conf import ParamConf
from gentf.gfi._selection import Selection

__all__ = ["Map", "MapTrace"]

_INSTANCES: weakref.WeakKeyDictionary[Any, Map] = weakref.WeakKeyDictionary()

_Batch = tuple[Any, list[np.ndarray], list[np.ndarray]]
"""A distribution kernel's whole batch: ``(value, arguments)`` aligned for the kernel (see
``Map._align``) and the arguments as arrays."""


class MapTrace(Trace):
    """The trace of a ``Map`` call: one element per index.

    For a distribution kernel, ``values[i]`` is element ``i``'s choice and ``scores[i]``
    its log density; for a generative-function kernel, ``subtraces[i]`` is element ``i``'s
    trace. ``trace[path(i, ...)]`` looks inside element ``i``.
    """

    def __init__(self, gen_fn: Map, args: tuple[Any, ...], scores: np.ndarray,
                 values: Any = None, subtraces: list[Trace] | None = None,
                 batch: _Batch | None = None) -> None:
        self._gen_fn = gen_fn
        self._args = args
        self.scores = scores
        self.values = values
        self.subtraces = subtraces
        self._score = float(np.add.reduce(scores))  # scores.sum() without its wrapper
        self._choices: ChoiceMap | None = None
        self._batch = batch  # the aligned inputs the scores came from, for the gradients

    def __len__(self) -> int:
        return len(self.scores)

    def get_gen_fn(self) -> Map:
        """The ``Map`` that made this trace."""
        return self._gen_fn

    def get_args(self) -> tuple[Any, ...]:
        """The vector arguments."""
        return self._args

    def get_retval(self) -> Any:
        """Distribution kernel: the values as one array; else the list of the kernel's
        return values."""
        if self.subtraces is None:
            return self.values
        return [t.get_retval() for t in self.subtraces]

    def get_score(self) -> float:
        """The sum of the elements' scores."""
        return self._score

    def element_value(self, i: int) -> Any:
        """Element ``i``'s choice (distribution kernel): a Python scalar or an array."""
        v = self.values[i]
        return v.item() if isinstance(v, np.generic) else v

    def get_choices(self) -> ChoiceMap:
        """``{i: value}`` (distribution kernel) or ``{i: element i's choices}``."""
        if self._choices is None:
            choices = ChoiceMap()
            if self.subtraces is None:
                for i in range(len(self)):
                    choices.set_value(i, self.element_value(i))
            else:
                for i, t in enumerate(self.subtraces):
                    choices.set_submap(i, t.get_choices())
            self._choices = choices
        return self._choices

    def __repr__(self) -> str:
        return f"<MapTrace of {self._gen_fn!r}: {len(self)} elements, score {self._score:.6g}>"


def _element_count(args: tuple[Any, ...], what: str) -> int:
    if len(args) == 1 and type(args[0]) is np.ndarray and args[0].ndim:
        return len(args[0])  # the common case: one array
    if not args:
        raise TypeError(f"{what}: Map needs at least one vector argument")
    lengths = []
    for j, a in enumerate(args):
        try:
            lengths.append(len(a))
        except TypeError:
            raise TypeError(
                f"{what}: Map's arguments are vectors (lists or arrays with a leading axis); "
                f"argument {j} is a {type(a).__name__}"
            ) from None
    if len(set(lengths)) != 1:
        raise ValueError(f"{what}: Map's vector arguments differ in length: {lengths}")
    return lengths[0]


def _index_keys(choices: Any, n: int, where: str) -> None:
    """ValueError for a top-level key that is not an element index ``0 .. n-1``."""
    keys = list(choices)
    if not keys or (set(map(type, keys)) == {int} and min(keys) >= 0 and max(keys) < n):
        return  # the common case, plain int indices, checked at C speed
    for key in keys:
        if not (isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < n):
            raise ValueError(
                f"{where}: Map has elements 0 .. {n - 1}; the given choices hold the address "
                f"{key!r}, which no element visits"
            )


class Map(GenerativeFunction):
    """``Map(kernel)``: applies ``kernel`` to each element of its vector arguments.

    ``Map(kernel)(*args)`` calls ``kernel(args[0][i], args[1][i], ...)`` for each ``i``;
    every argument is a list or an array whose leading axis has the common length ``n``.
    Element ``i``'s choices sit at address ``i`` of the Map's choices, so ``Map(kernel)(xs)
    @ "y"`` puts them at ``path("y", i)``. The return value is the array of the values
    (distribution kernel) or the list of the kernel's return values. Gradients with respect
    to an array argument come back as an array of its shape; for a list, a list.
    ``Map(k) is Map(k)``: one Map per kernel, so it may be written inside a model body.

    Example::

        @gen
        def model(xs):
            probs = net(xs) @ "net"
            Map(categorical)(probs) @ "y"      # labels at path("y", i)
    """

    kernel: GenerativeFunction | Distribution
    is_distribution: bool
    name: str
    _lone_event_dims: int | None

    def __new__(cls, kernel: GenerativeFunction | Distribution) -> Map:  # noqa: PYI034
        # One Map per kernel: ``Map(k)`` written inside a body is the same generative
        # function in every execution, as update and regenerate require of a call address.
        if not isinstance(kernel, (GenerativeFunction, Distribution)):
            raise TypeError(
                f"Map(kernel): the kernel is a generative function or a distribution; got "
                f"{type(kernel).__name__}"
            )
        existing = _INSTANCES.get(kernel)
        if existing is not None:
            return existing
        self = super().__new__(cls)
        self.kernel = kernel
        self.is_distribution = isinstance(kernel, Distribution)
        # the trailing axes of a lone argument that belong to one element, for a kernel that
        # takes whole batches (see _one_batch); None for any other kernel
        self._lone_event_dims = (kernel._event_dims(1)[0]
                                 if isinstance(kernel, ElementwiseDistribution) else None)
        label = getattr(kernel, "name", None) or repr(kernel)
        self.name = f"Map({label})"
        _INSTANCES[kernel] = self
        return self

    def __repr__(self) -> str:
        return self.name

    # ---- the kernel's capabilities --------------------------------------------------------

    def has_argument_grads(self) -> tuple[bool, ...]:
        """The kernel's flags, per vector argument."""
        if isinstance(self.kernel, Distribution):
            return tuple(self.kernel.has_argument_grads)
        return tuple(self.kernel.has_argument_grads())

    def accepts_output_grad(self) -> bool:
        """Whether the kernel's return value (a distribution's value) is differentiable."""
        if isinstance(self.kernel, Distribution):
            return self.kernel.has_output_grad
        return self.kernel.accepts_output_grad()

    def get_params(self) -> Sequence[Any]:
        """The kernel's trainable parameters (a distribution has none)."""
        return () if isinstance(self.kernel, Distribution) else self.kernel.get_params()

    def make_param_updater(self, conf: ParamConf, params: Sequence[Any]) -> ParamUpdater:
        """The kernel's parameter updater (the elements share the kernel's parameters)."""
        if isinstance(self.kernel, Distribution):
            return super().make_param_updater(conf, params)
        return self.kernel.make_param_updater(conf, params)

    # ---- distribution kernels: whole vectors at once ----------------------------------------

    def _batched(self, args: tuple[Any, ...]) -> list[np.ndarray] | None:
        """The arguments as arrays with the leading element axis, or None when the kernel
        cannot take the batch at once (not elementwise, ragged or object arguments)."""
        if not isinstance(self.kernel, ElementwiseDistribution):
            return None
        out = []
        for a in args:
            arr = a if isinstance(a, np.ndarray) else np.asarray(a)
            if arr.dtype.kind == "O" or arr.ndim == 0:
                return None
            out.append(arr)
        return out

    def _one_batch(self, values: Any, args: tuple[Any, ...]) -> list[np.ndarray] | None:
        """``[args[0]]`` when that is what :meth:`_batched` and :meth:`_align` make of
        ``(values, args)`` without changing anything: one array argument (not of objects)
        whose axes past the element axis are the kernel's event axes, and ``values`` an
        array with one axis per element axis (``categorical`` on probs (N, K) and labels
        (N,), the common case); else None."""
        e = self._lone_event_dims
        if e is None or len(args) != 1 or type(values) is not np.ndarray:
            return None
        a = args[0]
        if type(a) is not np.ndarray or not a.ndim or a.dtype.kind == "O" \
                or values.ndim != a.ndim - e:
            return None
        return [a]

    def _align(self, value: Any, batched: list[np.ndarray]) -> tuple[Any, list[np.ndarray]]:
        """Inserts unit axes after the element axis so each element's inputs broadcast as
        they would alone (numpy aligns trailing axes)."""
        kernel = self.kernel
        assert isinstance(kernel, ElementwiseDistribution)
        events = (0, *kernel._event_dims(len(batched)))
        inputs = [value, *batched] if value is not None else [None, *batched]
        ranks = [_ndim(x) - 1 - e for x, e in zip(inputs, events) if x is not None]
        top = max(ranks)
        if min(ranks) == top and (value is None or isinstance(value, np.ndarray)):
            return value, batched  # every element's inputs have one rank: nothing to insert
        aligned: list[Any] = []
        for x, e in zip(inputs, events):
            if x is None:
                aligned.append(None)
                continue
            arr = np.asarray(x)
            pad = top - (arr.ndim - 1 - e)
            aligned.append(arr.reshape(arr.shape[:1] + (1,) * pad + arr.shape[1:]) if pad else arr)
        return aligned[0], aligned[1:]

    def _aligned_batch(self, values: Any, args: tuple[Any, ...]) -> _Batch | None:
        """``(values, arguments)`` aligned for the kernel, with the arguments as arrays (see
        :data:`_Batch`); None when the kernel cannot take the batch at once. A lone
        argument already aligned (:meth:`_one_batch`) is taken as it is."""
        lone = self._one_batch(values, args)
        if lone is not None:
            return values, lone, lone
        batched = self._batched(args)
        if batched is None:
            return None
        return (*self._align(values, batched), batched)

    def _dist_scores(self, values: Any, args: tuple[Any, ...]) -> tuple[np.ndarray,
                                                                          _Batch | None]:
        """Each element's log density (vectorized when the kernel allows), and the aligned
        batch it was computed from (None when element by element)."""
        kernel = self.kernel
        assert isinstance(kernel, Distribution)
        n = len(values)
        batch = self._aligned_batch(values, args) if n else None
        if batch is not None:
            assert isinstance(kernel, ElementwiseDistribution)
            v, al, _ = batch
            terms = np.asarray(kernel.logpdf_terms(v, *al), dtype=np.float64)
            scores = terms.reshape(n, -1).sum(axis=1) if terms.ndim > 1 else terms
            return scores, batch
        return np.array([kernel._logpdf(values[i], *(a[i] for a in args)) for i in range(n)],
                        dtype=np.float64), None

    def _dist_sample(self, args: tuple[Any, ...], rows: list[int]) -> list[Any]:
        """Draws for the elements ``rows`` (one batched call when the kernel allows)."""
        kernel = self.kernel
        assert isinstance(kernel, Distribution)
        rng = get_rng()
        batched = self._batched(args)
        if batched is not None and rows:
            idx = np.asarray(rows)
            _, al = self._align(None, [b[idx] for b in batched])
            draws = np.asarray(kernel.sample(rng, *al))
            n_event = draws.ndim - 1
            return [draws[k] if n_event else draws[k].item() for k in range(len(rows))]
        return [kernel.sample(rng, *(a[i] for a in args)) for i in rows]

    def _stack_values(self, values: list[Any]) -> Any:
        try:
            arr = np.asarray(values)
        except ValueError:
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
        return arr

    def _dist_trace(self, args: tuple[Any, ...], values: list[Any]) -> MapTrace:
        arr = self._stack_values(values)
        scores, batch = self._dist_scores(arr, args)
        return MapTrace(self, args, scores, values=arr, batch=batch)

    def _dist_grads(self, trace: MapTrace) -> tuple[Any, tuple[Any, ...]]:
        """``(value_grads, arg_grads)`` of the total log density (None where none)."""
        kernel = self.kernel
        assert isinstance(kernel, Distribution)
        args = trace.get_args()
        values = trace.values
        n = len(trace)
        batch = trace._batch
        if batch is None and n:
            batch = self._aligned_batch(values, args)
        flags = (kernel.has_output_grad, *kernel._argument_flags(len(args)))
        if batch is not None:
            assert isinstance(kernel, ElementwiseDistribution)
            v, al, batched = batch
            grads = kernel.logpdf_terms_grad(v, *al)
            if al is batched and len(al) == 1:  # one argument, aligned as it was (_one_batch)
                lone = self._lone_grads(grads, (v, al[0]), flags)
                if lone is not None:
                    return lone[0], (_like_arg(lone[1], args[0]),)
            full: tuple[int, ...] | None = None  # the batch shape, worked out when needed
            events = (0, *kernel._event_dims(len(al)))
            out: list[Any] = []
            for x, orig, g, e, flag in zip((v, *al), (values, *batched), grads, events, flags):
                if g is None or not flag:
                    out.append(None)
                    continue
                shape = _shape(x)
                if full is None:
                    full = kernel.batch_shape(v, *al)
                target = full + (shape[len(shape) - e:] if e else ())
                red = g if _shape(g) == target == shape else unbroadcast(
                    np.broadcast_to(g, target), shape)
                orig_shape = _shape(orig)
                out.append(red if shape == orig_shape else np.reshape(red, orig_shape))
            return out[0], tuple([_like_arg(g, a) for g, a in zip(out[1:], args)])
        per = [kernel.logpdf_grad(values[i], *(a[i] for a in args)) for i in range(n)]
        value_grads = None if not flags[0] else [p[0] for p in per]
        arg_grads = tuple(
            _stack_grads([p[1 + j] for p in per], a) for j, a in enumerate(args))
        return value_grads, arg_grads

    @staticmethod
    def _lone_grads(grads: tuple[Any, ...], inputs: tuple[np.ndarray, np.ndarray],
                    flags: tuple[bool, ...]) -> list[Any] | None:
        """The value's and the argument's gradients from a :meth:`_one_batch` batch, when
        each wanted one has its input's shape: then the general path's broadcast target is
        that shape, so it neither reduces nor reshapes them. None otherwise (take that path)."""
        out: list[Any] = []
        for x, g, flag in zip(inputs, grads, flags):
            if g is None or not flag:
                out.append(None)
            elif type(g) is np.ndarray and g.shape == x.shape:
                out.append(g)
            else:
                return None
        v, a = inputs
        return out if v.shape == a.shape[:v.ndim] else None

    # ---- generate, simulate, assess ---------------------------------------------------------

    def simulate(self, args: tuple[Any, ...]) -> MapTrace:
        """``trace = simulate(Map(k), args)``: every element sampled."""
        trace, _ = self.generate(args, EmptyChoiceMap())
        return trace

    def generate(self, args: tuple[Any, ...], constraints: ChoiceMap) -> tuple[MapTrace, float]:
        """``(trace, weight) = generate(Map(k), args, constraints)``.

        The constraints under address ``i`` apply to element ``i``; ``weight`` sums the
        elements' generate weights. ValueError for a constraint at an address no element
        visits.
        """
        args = tuple(args)
        n = _element_count(args, "generate")
        if self.is_distribution:
            dense = constraints.dense_array(n)
            if dense is not None:  # every element observed by a number, the common case
                scores, batch = self._dist_scores(dense, args)
                trace = MapTrace(self, args, scores, values=dense, batch=batch)
                return trace, trace._score
            observed = constraints.dense_values(n)
            if observed is not None:  # every element observed
                trace = self._dist_trace(args, observed)
                return trace, trace.get_score()
        _index_keys(constraints, n, f"generate of {self.name}")
        if self.is_distribution:
            given = _leaf_constraints(constraints, f"generate of {self.name}")
            if len(given) == n:  # every element observed (the keys are 0 .. n-1, checked)
                trace = self._dist_trace(args, [given[i] for i in range(n)])
                return trace, trace.get_score()
            values: list[Any] = [given.get(i) for i in range(n)]
            fixed = sorted(given)
            free = [i for i in range(n) if i not in given] if len(given) < n else []
            for i, v in zip(free, self._dist_sample(args, free)):
                values[i] = v
            trace = self._dist_trace(args, values)
            return trace, float(np.sum(trace.scores[fixed])) if fixed else 0.0
        kernel = self.kernel
        assert isinstance(kernel, GenerativeFunction)
        subtraces, weight = [], 0.0
        for i in range(n):
            sub, w = kernel.generate(tuple(a[i] for a in args), _sub(constraints, i, "generate"))
            subtraces.append(sub)
            weight += float(w)
        return self._gf_trace(args, subtraces), weight

    def _gf_trace(self, args: tuple[Any, ...], subtraces: list[Trace]) -> MapTrace:
        scores = np.array([t.get_score() for t in subtraces], dtype=np.float64)
        return MapTrace(self, args, scores, subtraces=subtraces)

    def assess(self, args: tuple[Any, ...], choices: ChoiceMap) -> tuple[float, Any]:
        """``(weight, retval) = assess(Map(k), args, choices)``: ``log p`` of every element's
        choices; KeyError if one is missing."""
        args = tuple(args)
        n = _element_count(args, "assess")
        _index_keys(choices, n, f"assess of {self.name}")
        if self.is_distribution:
            missing = [i for i in range(n) if not choices.has_value(i)]
            if missing:
                raise KeyError(f"assess of {self.name}: no value for elements {missing[:10]}")
            trace = self._dist_trace(args, [choices.get_value(i) for i in range(n)])
            return trace.get_score(), trace.get_retval()
        kernel = self.kernel
        assert isinstance(kernel, GenerativeFunction)
        weight, retvals = 0.0, []
        for i in range(n):
            w, r = kernel.assess(tuple(a[i] for a in args), _sub(choices, i, "assess"))
            weight += float(w)
            retvals.append(r)
        return weight, retvals

    # ---- update, regenerate, project ---------------------------------------------------------

    def update(self, trace: Trace, args: tuple[Any, ...], argdiffs: Sequence[Diff],
               constraints: ChoiceMap) -> tuple[Trace, float, Diff, ChoiceMap]:
        """``(new_trace, weight, retdiff, discard) = update(trace, args, argdiffs, constraints)``.

        Elements ``0 .. min(n_old, n)-1`` keep their choices except where constrained (the
        old values go to ``discard``) and are re-scored with the new arguments; elements
        past the old length are generated (constrained choices count in the weight); those
        past the new length are removed (into ``discard``, minus their score). Only
        constrained elements are visited when every argdiff is ``NoChange``.
        """
        prev = _own(self, trace)
        args = tuple(args)
        n = _element_count(args, "update")
        _index_keys(constraints, n, f"update of {self.name}")
        n_old = len(prev)
        changed = not all(d is NoChange for d in argdiffs) or len(argdiffs) != len(args)
        discard = ChoiceMap()
        if self.is_distribution:
            values = [prev.element_value(i) if i < n_old else None for i in range(n)]
            free, fixed = [], []
            for i in range(n):
                if constraints.has_value(i):
                    if i < n_old:
                        discard.set_value(i, values[i])
                    values[i] = constraints.get_value(i)
                    fixed.append(i)
                elif i in constraints:
                    raise ValueError(f"update of {self.name}: element {i} is a random choice, "
                                     f"but the constraints hold a submap there")
                elif i >= n_old:
                    free.append(i)
            for i, v in zip(free, self._dist_sample(args, free)):
                values[i] = v
            new = self._dist_trace(args, values)
            m = min(n, n_old)
            weight = float(np.sum(new.scores[:m]) - np.sum(prev.scores[:m]))
            weight += float(sum(new.scores[i] for i in fixed if i >= n_old))
            for i in range(n, n_old):
                discard.set_value(i, prev.element_value(i))
            weight -= float(np.sum(prev.scores[n:]))
            retdiff = UnknownChange if (changed or fixed or n != n_old) else NoChange
            return new, weight, retdiff, discard
        kernel = self.kernel
        assert isinstance(kernel, GenerativeFunction)
        assert prev.subtraces is not None
        subtraces: list[Trace] = []
        weight = 0.0
        any_change = changed or n != n_old
        for i in range(n):
            sub_args = tuple(a[i] for a in args)
            sub_cm = _sub(constraints, i, "update")
            if i < n_old:
                old = prev.subtraces[i]
                if not changed and sub_cm.is_empty():
                    subtraces.append(old)
                    continue
                diffs = tuple(UnknownChange if changed else NoChange for _ in args)
                t, w, rd, d = kernel.update(old, sub_args, diffs, sub_cm)
                discard.set_submap(i, d)
                any_change = any_change or rd is not NoChange
            else:
                t, w = kernel.generate(sub_args, sub_cm)
            subtraces.append(t)
            weight += float(w)
        for i in range(n, n_old):
            discard.set_submap(i, prev.subtraces[i].get_choices())
            weight -= prev.subtraces[i].get_score()
        return (self._gf_trace(args, subtraces), weight,
                UnknownChange if any_change else NoChange, discard)

    def regenerate(self, trace: Trace, args: tuple[Any, ...], argdiffs: Sequence[Diff],
                   selection: Selection) -> tuple[Trace, float, Diff]:
        """``(new_trace, weight, retdiff) = regenerate(trace, args, argdiffs, selection)``.

        Selected elements (``i in selection``, or inside element ``i`` for a
        generative-function kernel) are resampled; kept elements add new minus old log
        density; new elements are sampled and removed ones dropped, neither counting.
        """
        prev = _own(self, trace)
        args = tuple(args)
        n = _element_count(args, "regenerate")
        n_old = len(prev)
        changed = not all(d is NoChange for d in argdiffs) or len(argdiffs) != len(args)
        if self.is_distribution:
            values = [prev.element_value(i) if i < n_old else None for i in range(n)]
            kept = [i for i in range(min(n, n_old)) if i not in selection]
            fresh = [i for i in range(n) if i >= n_old or i in selection]
            for i, v in zip(fresh, self._dist_sample(args, fresh)):
                values[i] = v
            new = self._dist_trace(args, values)
            weight = float(np.sum(new.scores[kept]) - np.sum(prev.scores[kept])) if kept else 0.0
            retdiff = UnknownChange if (changed or fresh or n != n_old) else NoChange
            return new, weight, retdiff
        kernel = self.kernel
        assert isinstance(kernel, GenerativeFunction)
        assert prev.subtraces is not None
        subtraces: list[Trace] = []
        weight = 0.0
        for i in range(n):
            sub_args = tuple(a[i] for a in args)
            if i < n_old:
                sub_sel = selection.get_subselection(i)
                old = prev.subtraces[i]
                if not changed and sub_sel.is_empty():
                    subtraces.append(old)
                    continue
                diffs = tuple(UnknownChange if changed else NoChange for _ in args)
                t, w, _ = kernel.regenerate(old, sub_args, diffs, sub_sel)
            else:
                t, w = kernel.generate(sub_args, EmptyChoiceMap())
            subtraces.append(t)
            weight += float(w)
        return self._gf_trace(args, subtraces), weight, UnknownChange

    def project(self, trace: Trace, selection: Selection) -> float:
        """``weight = project(trace, selection)``: the selected elements' log densities."""
        prev = _own(self, trace)
        if prev.subtraces is None:
            return float(sum(prev.scores[i] for i in range(len(prev)) if i in selection))
        kernel = self.kernel
        assert isinstance(kernel, GenerativeFunction)
        return float(sum(kernel.project(t, selection.get_subselection(i))
                         for i, t in enumerate(prev.subtraces)))

    # ---- gradients ---------------------------------------------------------------------------

    def choice_gradients(self, trace: Trace, selection: Selection,
                         retval_grad: Any) -> tuple[tuple[Any, ...], ChoiceMap, ChoiceMap]:
        """``(arg_grads, choice_values, choice_grads) = choice_gradients(trace, selection, retval_grad)``.

        Distribution kernel: the gradient of the selected values is the log density's plus
        ``retval_grad[i]`` (the value is the return value); argument gradients come from
        the log densities. Generative-function kernel: element by element.
        """
        prev = _own(self, trace)
        if prev.subtraces is None:
            value_grads, arg_grads = self._dist_grads(prev)
            values, grads = ChoiceMap(), ChoiceMap()
            if value_grads is not None:
                for i in range(len(prev)):
                    if i not in selection:
                        continue
                    g = value_grads[i]
                    if retval_grad is not None:
                        g = g + np.asarray(retval_grad[i])
                    values.set_value(i, prev.element_value(i))
                    grads.set_value(i, float(g) if np.ndim(g) == 0 else np.asarray(g))
            return arg_grads, values, grads
        kernel = self.kernel
        assert isinstance(kernel, GenerativeFunction)
        per: list[tuple[Any, ...]] = []
        values, grads = ChoiceMap(), ChoiceMap()
        for i, t in enumerate(prev.subtraces):
            rg = None if retval_grad is None else retval_grad[i]
            a, v, g = kernel.choice_gradients(t, selection.get_subselection(i), rg)
            per.append(tuple(a))
            values.set_submap(i, v)
            grads.set_submap(i, g)
        return self._gf_arg_grads(per, prev.get_args()), values, grads

    def _gf_arg_grads(self, per: list[tuple[Any, ...]], args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_stack_grads([p[j] if j < len(p) else None for p in per], a)
                     for j, a in enumerate(args))

    def accumulate_param_gradients(self, trace: Trace, retval_grad: Any,
                                   scale_factor: float = 1.0) -> tuple[Any, ...]:
        """``arg_grads = accumulate_param_gradients(trace, retval_grad, scale_factor)``.

        Each element accumulates into the kernel's parameters (a distribution has none);
        returns the unscaled argument gradients, stacked like the arguments.
        """
        prev = _own(self, trace)
        if prev.subtraces is None:
            return self._dist_grads(prev)[1]
        kernel = self.kernel
        assert isinstance(kernel, GenerativeFunction)
        per = []
        for i, t in enumerate(prev.subtraces):
            rg = None if retval_grad is None else retval_grad[i]
            per.append(tuple(kernel.accumulate_param_gradients(t, rg, scale_factor)))
        return self._gf_arg_grads(per, prev.get_args())

    def accumulate_param_gradients_only(self, trace: Trace, retval_grad: Any,
                                        scale_factor: float = 1.0) -> None:
        """As :meth:`accumulate_param_gradients` when no argument gradient is needed
        (nothing to do for a distribution kernel)."""
        prev = _own(self, trace)
        if prev.subtraces is None:
            return
        kernel = self.kernel
        assert isinstance(kernel, GenerativeFunction)
        for i, t in enumerate(prev.subtraces):
            rg = None if retval_grad is None else retval_grad[i]
            kernel.accumulate_param_gradients_only(t, rg, scale_factor)


def _own(gen_fn: Map, trace: Trace) -> MapTrace:
    if not isinstance(trace, MapTrace) or trace.get_gen_fn() is not gen_fn:
        raise TypeError(f"expected a trace of {gen_fn!r}; got {trace!r}")
    return trace


def _leaf_constraints(choices: ChoiceMap, where: str) -> dict[Any, Any]:
    """The values at the top level of ``choices``; ValueError if a submap sits there (the
    elements of a distribution kernel are values)."""
    for key, _ in choices.get_submaps_shallow():
        raise ValueError(f"{where}: element {key!r} is a random choice, but the constraints "
                         f"hold a submap there")
    return dict(choices.get_values_shallow())


def _sub(choices: ChoiceMap, i: int, where: str) -> ChoiceMap:
    if choices.has_value(i):
        raise ValueError(f"{where}: element {i} is a call of the kernel, but the choices hold "
                         f"a value there: {choices.get_value(i)!r}")
    return choices.get_submap(i)


def _shape(x: Any) -> tuple[int, ...]:
    """``np.shape(x)``, read directly from an array."""
    return x.shape if type(x) is np.ndarray else np.shape(x)


def _ndim(x: Any) -> int:
    """``np.ndim(x)``, read directly from an array."""
    return x.ndim if type(x) is np.ndarray else np.ndim(x)


def _like_arg(grad: Any, arg: Any) -> Any:
    """A batched gradient in the form of its argument: an array, or a list of elements."""
    if grad is None:
        return None
    if type(grad) is np.ndarray and type(arg) is np.ndarray:
        return grad.astype(arg.dtype, copy=False) if arg.dtype.kind == "f" else grad
    if isinstance(arg, np.ndarray):
        floating = arg.dtype.kind == "f"  # np.issubdtype(arg.dtype, np.floating), cheaper
        return np.asarray(grad).astype(arg.dtype, copy=False) if floating else np.asarray(grad)
    return [g.item() if isinstance(g, np.generic) else g for g in np.asarray(grad)]


def _stack_grads(grads: list[Any], arg: Any) -> Any:
    """Per-element gradients as one gradient for the vector argument ``arg``."""
    if all(g is None for g in grads):
        return None
    if isinstance(arg, np.ndarray):
        filled = [np.zeros(np.shape(arg[i])) if g is None else np.asarray(g)
                  for i, g in enumerate(grads)]
        out = np.stack(filled) if filled else np.zeros(np.shape(arg))
        return out.astype(arg.dtype, copy=False) if arg.dtype.kind == "f" else out
    return list(grads)
