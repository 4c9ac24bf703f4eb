"""Gradients of ``@gen`` functions: reverse-mode autograd over a replay of the body.

The body is re-run with the trace's values (Gen's ``dynamic/backprop.jl``):

1. Tracked inputs: the float arguments, the function's parameters (for
   ``accumulate_param_gradients``) or the selected continuous choices (for
   ``choice_gradients``), and an *anchor* scalar that is always tracked.
2. A random choice returns its recorded (or tracked) value and adds its log density to
   the objective ``log p + <retval, retval_grad>``.
3. A call returns the recorded subtrace's return value through an autograd primitive
   whose inputs are the anchor and the call's arguments. Its VJP calls the callee ONCE:
   ``accumulate_param_gradients(subtrace, cotangent, scale)`` or
   ``choice_gradients(subtrace, sub_selection, cotangent)``; the callee's argument
   gradients (which include its score's dependence on the arguments) flow into the
   arguments.
4. autograd skips a primitive whose inputs are all untracked and a primitive whose
   output is unused: the anchor input and a zero-weighted link of every call's output
   into the objective make every recorded call visited, so a network called on plain
   data still trains.
5. Gradients coming back from a callee are cast to the dtype of the argument they belong
   to (a float32 network output, say), never passed through silently.
6. ``scale_factor`` multiplies parameter increments at every level (it is handed to the
   callees); argument gradients are returned unscaled.
7. Autograd only where user code needs it (Gen's way): a random choice whose tracked
   arguments are plain elements or slices of a call's return value (``categorical(
   probs[i]) @ ("y", i)``) is scored in numpy, and the distribution's ``logpdf_grad`` is
   added straight into that call's cotangent; no node of the tape is made for it. Other
   tracked arguments go through ``logpdf`` as one autograd primitive.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp_argnums, primitive
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.tracer import Box

from gentf.dsl._exec import BodyHandler, run_body
from gentf.dsl._trace import CallRecord, ChoiceRecord, GenTrace, Record
from gentf.dsl.distributions._base import Distribution
from gentf.gfi._choicemap import ChoiceMap
from gentf.gfi._interface import GenerativeFunction, Trace
from gentf.gfi._selection import Selection

__all__ = ["choice_gradients_gen", "is_float_value"]

_PARAMS = "params"
_CHOICES = "choices"


def is_float_value(x: Any) -> bool:
    """True for a float scalar or a floating-point numpy array (values that get gradients)."""
    if isinstance(x, bool):
        return False
    if isinstance(x, (float, np.floating)):
        return True
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"  # numpy's floating types


Rebuild = Callable[[list[Any], bool], Any]


def _flatten(x: Any) -> tuple[list[np.ndarray], Rebuild]:
    """``(leaves, rebuild) = _flatten(x)``: the float leaves of nested tuples/lists.

    ``rebuild(values, keep_static)`` puts ``values`` in the leaves' places; other parts
    stay as they were (``keep_static``) or become ``None``.
    """
    if is_float_value(x):
        return [np.asarray(x)], lambda vals, keep: vals[0]
    if isinstance(x, (tuple, list)):
        parts = [_flatten(e) for e in x]
        leaves = [leaf for p in parts for leaf in p[0]]

        def rebuild(vals: list[Any], keep: bool) -> Any:
            out, i = [], 0
            for sub_leaves, sub_rebuild in parts:
                n = len(sub_leaves)
                out.append(sub_rebuild(vals[i:i + n], keep))
                i += n
            return tuple(out) if isinstance(x, tuple) else out

        return leaves, rebuild
    return [], lambda vals, keep: x if keep else None


class _Site:
    """One recorded call met during the replay; its VJP calls the callee once."""

    def __init__(
        self,
        key: Hashable,
        callee: GenerativeFunction,
        subtrace: Trace,
        mode: str,
        subselection: Selection,
        scale: float,
    ) -> None:
        self.key = key
        self.callee = callee
        self.subtrace = subtrace
        self.mode = mode
        self.subselection = subselection
        self.scale = scale
        retval = subtrace.get_retval()
        if callee.accepts_output_grad():
            self.leaves, self.rebuild = _flatten(retval)
        else:
            self.leaves, self.rebuild = [], _flatten(retval)[1]
        parts = [np.ravel(leaf).astype(np.float64) for leaf in self.leaves]
        self.flat = (parts[0] if len(parts) == 1 else  # astype copied it already
                     np.concatenate(parts) if parts else np.zeros(0))
        self.visited = False
        self.choice_values: ChoiceMap | None = None  # set by a choice_gradients backward
        self.choice_grads: ChoiceMap | None = None
        self.direct: dict[int, np.ndarray] = {}

    def retval_for_body(self, out: Any, tags: dict[int, Any]) -> Any:
        """The return value the body sees: tracked leaves cut out of the primitive's output,
        as boxes whose plain element reads are remembered in ``tags``."""
        if not self.leaves:
            return self.subtrace.get_retval()
        if len(self.leaves) == 1:  # no slicing: its reverse pass is a slow np.add.at
            box = anp.reshape(out, self.leaves[0].shape)
            return self.rebuild([_LeafBox.wrap(box, tags, self, 0)], True)
        vals, start = [], 0
        for k, leaf in enumerate(self.leaves):
            size = leaf.size
            box = anp.reshape(out[start:start + size], leaf.shape)
            vals.append(_LeafBox.wrap(box, tags, self, k))
            start += size
        return self.rebuild(vals, True)

    def add_direct(self, k: int, idx: Any, grad: Any) -> None:
        """Adds ``grad`` into the cotangent of ``leaf[idx]`` (leaf ``k``), outside autograd."""
        buf = self.direct.get(k)
        if buf is None:
            shape = self.leaves[k].shape
            if idx is Ellipsis and np.shape(grad) == shape:  # the whole leaf: 0 + g is g
                self.direct[k] = np.array(grad, dtype=np.float64)
                return
            buf = self.direct[k] = np.zeros(shape)
        buf[idx] += grad

    def _with_direct(self, g: np.ndarray | None) -> np.ndarray:
        """``g`` (None: zeros) plus the cotangents added outside autograd, float64."""
        if g is None:
            if len(self.leaves) == 1 and 0 in self.direct:
                return self.direct[0].ravel()  # 0 + x is x: no zeros to add it to
            g = np.zeros_like(self.flat)
        if not self.direct:
            return g
        g = np.array(g, dtype=np.float64)
        start = 0
        for k, leaf in enumerate(self.leaves):
            if k in self.direct:
                g[start:start + leaf.size] += self.direct[k].ravel()
            start += leaf.size
        return g

    def backward(self, g: np.ndarray | None, need_arg_grads: bool = True) -> tuple[Any, ...]:
        """Calls the callee with the return value's cotangent (``g``, flat; None for zeros)
        plus what was added outside autograd; returns its argument gradients (none when
        ``need_arg_grads`` is False: the callee may then defer its work)."""
        if self.visited:
            raise RuntimeError(f"gentf internal error: call at {self.key!r} visited twice")
        self.visited = True
        if self.leaves:
            g = self._with_direct(g)
            vals, start = [], 0
            for leaf in self.leaves:
                size = leaf.size
                vals.append(np.reshape(g[start:start + size], leaf.shape).astype(leaf.dtype))
                start += size
            retval_grad = self.rebuild(vals, False)
        else:
            retval_grad = None
        if self.mode == _PARAMS and not need_arg_grads:
            self.callee.accumulate_param_gradients_only(self.subtrace, retval_grad, self.scale)
            arg_grads: Any = ()
        elif self.mode == _PARAMS:
            arg_grads = self.callee.accumulate_param_gradients(self.subtrace, retval_grad, self.scale)
        else:
            arg_grads, values, grads = self.callee.choice_gradients(
                self.subtrace, self.subselection, retval_grad)
            self.choice_values, self.choice_grads = values, grads
        return tuple(arg_grads)

    def cast_arg_grad(self, i: int, grad: Any, arg: Any) -> Any:
        """The callee's gradient for argument ``i``, shaped and typed like the argument."""
        return cast_arg_grad(self.callee, self.key, i, grad, arg)


def cast_arg_grad(callee: GenerativeFunction, key: Hashable, i: int, grad: Any, arg: Any) -> Any:
    """``callee``'s gradient (at ``key``) for argument ``i``, shaped and typed like the
    argument ``arg``: zeros for None where the callee says it has a gradient; ValueError
    where it has none, or for a gradient of another shape."""
    if grad is None:
        flags = callee.has_argument_grads()
        if i < len(flags) and not flags[i]:
            raise ValueError(
                f"a gradient is needed for argument {i} of the call at {key!r}, but "
                f"{callee!r} has no gradient for it (has_argument_grads() is {flags})"
            )
        return np.zeros_like(arg) if isinstance(arg, np.ndarray) else 0.0 * arg
    g = grad if type(grad) is np.ndarray else np.asarray(grad)
    is_array = isinstance(arg, np.ndarray)
    shape = arg.shape if is_array else np.shape(arg)
    if g.shape != shape:
        raise ValueError(
            f"{callee!r} at {key!r} returned a gradient of shape {g.shape} for "
            f"argument {i}, whose shape is {shape}"
        )
    return g.astype(arg.dtype, copy=False) if is_array else float(g)


def _is_basic_index(idx: Any) -> bool:
    """An index that selects a view (ints and slices): ``buf[idx] += g`` adds each once."""
    if isinstance(idx, tuple):
        return all(_is_basic_index(i) for i in idx)
    return isinstance(idx, (int, np.integer, slice)) and not isinstance(idx, bool)


class _LeafBox(ArrayBox):  # type: ignore[misc]
    """A call's return value in the replay: an autograd box that remembers its plain
    element reads (``probs[i]``), so a choice on them can skip the tape (point 7)."""

    __slots__ = ("_k", "_site", "_tags")

    @classmethod
    def wrap(cls, box: Any, tags: dict[int, Any], site: _Site, k: int) -> Any:
        if type(box) is not ArrayBox:
            return box
        leaf = cls(box._value, box._trace, box._node)
        leaf._tags, leaf._site, leaf._k = tags, site, k
        return leaf

    def __getitem__(self, idx: Any) -> Any:
        out = ArrayBox.__getitem__(self, idx)
        if _is_basic_index(idx):
            self._tags[id(out)] = (self._site, self._k, idx, out)
        return out


Box.types.add(_LeafBox)


def _site_output_impl(anchor: Any, site: _Site, *args: Any) -> np.ndarray:
    """The recorded return value (flattened float leaves) of the call ``site``."""
    return site.flat


_site_output: Callable[..., Any] = primitive(_site_output_impl)


def _site_vjp(
    argnums: list[int], ans: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Callable[[Any], list[Any]]:
    site: _Site = args[1]

    def vjp(g: Any) -> list[Any]:
        arg_grads = site.backward(np.asarray(g, dtype=np.float64),
                                  need_arg_grads=any(n >= 2 for n in argnums))
        out: list[Any] = []
        for n in argnums:
            if n == 0:
                out.append(0.0)
            else:
                i = n - 2
                grad = arg_grads[i] if i < len(arg_grads) else None
                out.append(site.cast_arg_grad(i, grad, args[n]))
        return out

    return vjp


defvjp_argnums(_site_output, _site_vjp)


_FLAT_TYPES = frozenset({np.ndarray, float, int, str})
"""Argument types that hold no boxes (checked first: the common case)."""


def _has_box(x: Any) -> bool:
    """Whether ``x`` is, or a list, tuple or dict in it holds, a value carrying gradients.
    (A module function: a nested recursive one would make a reference cycle per call, which
    only the garbage collector frees.)"""
    if isinstance(x, Box):
        return True
    if isinstance(x, (list, tuple)):
        return any(_has_box(e) for e in x)
    if isinstance(x, dict):
        return any(_has_box(e) for e in x.values())
    return False


def _check_flat_args(key: Hashable, args: tuple[Any, ...]) -> None:
    for i, arg in enumerate(args):
        if type(arg) in _FLAT_TYPES:
            continue
        if not isinstance(arg, Box) and _has_box(arg):
            raise TypeError(
                f"argument {i} of the call at {key!r} is a container holding values that carry "
                f"gradients; pass each array as its own argument (or build one array with "
                f"autograd.numpy.stack) so the gradient can flow"
            )


def _tree_dot(value: Any, grad: Any) -> Any:
    if grad is None:
        return 0.0
    if isinstance(grad, (tuple, list)):
        if not isinstance(value, (tuple, list)) or len(value) != len(grad):
            raise ValueError(
                f"retval_grad has the structure of a {type(grad).__name__} of {len(grad)}; "
                f"the return value is {type(value).__name__}"
            )
        total: Any = 0.0
        for v, g in zip(value, grad):
            total = total + _tree_dot(v, g)
        return total
    g = np.asarray(grad)
    if g.shape != anp.shape(value):
        raise ValueError(
            f"retval_grad has shape {g.shape}; the return value has shape {anp.shape(value)}"
        )
    return anp.sum(value * g)


class _Replay(BodyHandler):
    def __init__(
        self,
        trace: GenTrace,
        mode: str,
        selection: Selection,
        scale: float,
        anchor: Any,
        tracked_params: dict[str, Any],
        tracked_choices: dict[Hashable, Any],
    ) -> None:
        super().__init__(trace.get_gen_fn())
        self.trace = trace
        self.mode = mode
        self.selection = selection
        self.scale = scale
        self.anchor = anchor
        self.tracked_params = tracked_params
        self.tracked_choices = tracked_choices
        self.score: Any = 0.0
        self.links: Any = 0.0
        self.sites: list[_Site] = []
        self.tags: dict[int, Any] = {}

    def _record(self, key: Hashable) -> Record:
        record = self.trace.records.get(key)
        if record is None:
            raise RuntimeError(
                f"{self.gen_fn.name}: replaying the body for gradients reached address {key!r}, "
                f"which is not in the trace; the body must make the same choices when re-run "
                f"with the same values (no untraced randomness deciding control flow)"
            )
        return record

    def read_param(self, name: str) -> Any:
        if name in self.tracked_params:
            return self.tracked_params[name]
        return super().read_param(name)

    def visit_choice(self, key: Hashable, dist: Distribution, args: tuple[Any, ...]) -> Any:
        record = self._record(key)
        if not isinstance(record, ChoiceRecord):
            raise RuntimeError(  # noqa: TRY004 - the replay diverged, not a type error
                f"{self.gen_fn.name}: address {key!r} was a call, now a choice")
        value = self.tracked_choices.get(key, record.value)
        if not isinstance(value, Box) and self.tags:
            direct = self._direct_args(args)
            if direct is not None:
                raw = tuple(a._value if isinstance(a, Box) else a for a in args)
                grads = dist.logpdf_grad(value, *raw)
                for j, (site, k, idx, _) in direct:
                    g = grads[1 + j]
                    if g is not None:
                        site.add_direct(k, idx, g)
                self.score = self.score + dist.logpdf(value, *raw)
                return value
        self.score = self.score + dist.logpdf(value, *args)
        return value

    def _direct_args(self, args: tuple[Any, ...]) -> list[tuple[int, Any]] | None:
        """``[(j, tag)]`` when every tracked argument is a tagged element read; else None."""
        found = []
        for j, a in enumerate(args):
            if isinstance(a, Box):
                tag = self.tags.get(id(a))
                if tag is None or tag[3] is not a:
                    return None
                found.append((j, tag))
        return found or None

    def visit_call(self, key: Hashable, callee: GenerativeFunction, args: tuple[Any, ...]) -> Any:
        record = self._record(key)
        if not isinstance(record, CallRecord) or record.callee is not callee:
            raise RuntimeError(
                f"{self.gen_fn.name}: address {key!r} held a different call when traced"
            )
        _check_flat_args(key, args)
        site = _Site(key, callee, record.subtrace, self.mode,
                     self.selection.get_subselection(key), self.scale)
        self.sites.append(site)
        out = _site_output(self.anchor, site, *args)
        self.links = self.links + 0.0 * anp.sum(out)
        return site.retval_for_body(out, self.tags)


def _backprop(
    trace: GenTrace, mode: str, selection: Selection, retval_grad: Any, scale: float,
    track_args: bool = True,
) -> tuple[tuple[Any, ...], list[Hashable], list[Any], _Replay]:
    """``(arg_grads, choice_keys, choice_grads, replay) = _backprop(...)``; adds param grads.

    ``track_args=False``: arguments are not differentiated (their gradients come back None).
    """
    gen_fn = trace.get_gen_fn()
    args = trace.get_args()
    arg_idx = [i for i, a in enumerate(args) if is_float_value(a)] if track_args else []
    param_names = gen_fn.get_params() if mode == _PARAMS else []
    choice_keys: list[Hashable] = []
    if mode == _CHOICES:
        for key, record in trace.records.items():
            if (isinstance(record, ChoiceRecord) and record.dist.has_output_grad
                    and key in selection):
                choice_keys.append(key)
    n_a, n_p = len(arg_idx), len(param_names)
    inputs: list[Any] = [0.0]
    inputs += [args[i] for i in arg_idx]
    inputs += [gen_fn.get_param(name) for name in param_names]
    inputs += [np.asarray(trace.records[k].value, dtype=np.float64)  # type: ignore[union-attr]
               if not is_float_value(trace.records[k].value)  # type: ignore[union-attr]
               else trace.records[k].value for k in choice_keys]  # type: ignore[union-attr]
    state: list[_Replay] = []

    def objective(xs: list[Any]) -> Any:
        anchor = xs[0]
        body_args = list(args)
        for j, i in enumerate(arg_idx):
            body_args[i] = xs[1 + j]
        tracked_params = dict(zip(param_names, xs[1 + n_a:1 + n_a + n_p]))
        tracked_choices = dict(zip(choice_keys, xs[1 + n_a + n_p:]))
        replay = _Replay(trace, mode, selection, scale, anchor, tracked_params, tracked_choices)
        state.append(replay)
        try:
            retval = run_body(gen_fn, replay, tuple(body_args))
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(
                    f"(raised while replaying the body of {gen_fn.name} for gradients: values "
                    f"that carry gradients need autograd.numpy operations, and arrays must not "
                    f"be written in place)"
                )
            raise
        return replay.score + _tree_dot(retval, retval_grad) + replay.links + 0.0 * anchor

    vjp, _ = autograd.make_vjp(objective)(inputs)
    grads = vjp(np.float64(1.0))
    replay = state[-1]
    for site in replay.sites:
        if not site.visited:
            raise RuntimeError(
                f"gentf internal error: the call at {site.key!r} was not visited by the "
                f"reverse pass"
            )
    arg_grads: list[Any] = [None] * len(args)
    for j, i in enumerate(arg_idx):
        g = np.asarray(grads[1 + j])
        arg = args[i]
        arg_grads[i] = g.astype(arg.dtype) if isinstance(arg, np.ndarray) else float(g)
    param_grads = list(grads[1 + n_a:1 + n_a + n_p])
    choice_grads = list(grads[1 + n_a + n_p:])
    if mode == _PARAMS:
        for name, g in zip(param_names, param_grads):
            gen_fn.add_param_grad(name, scale * np.asarray(g))
    return tuple(arg_grads), choice_keys, choice_grads, replay


def choice_gradients_gen(
    trace: GenTrace, selection: Selection, retval_grad: Any
) -> tuple[tuple[Any, ...], ChoiceMap, ChoiceMap]:
    """``(arg_grads, values, grads) = choice_gradients_gen(trace, selection, retval_grad)``."""
    arg_grads, keys, choice_grads, replay = _backprop(trace, _CHOICES, selection, retval_grad, 1.0)
    values, grads = ChoiceMap(), ChoiceMap()
    for key, g in zip(keys, choice_grads):
        record = trace.records[key]
        assert isinstance(record, ChoiceRecord)
        values.set_value(key, record.value)
        grads.set_value(key, g if np.ndim(record.value) else float(g))
    for site in replay.sites:
        if site.choice_values is not None and site.choice_grads is not None:
            values.set_submap(site.key, site.choice_values)
            grads.set_submap(site.key, site.choice_grads)
    return arg_grads, values, grads
