"""``categorical(probs)``: an index in ``0 .. K-1`` drawn with probabilities ``probs``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._support import NEG_INF

__all__ = ["Categorical", "categorical"]

_log = np.log


def _one_index(value: Any) -> int | None:
    """The index for an integer scalar ``value`` (not a bool), else None."""
    if type(value) is int:  # the common case first
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return None


_UNSIGNED: dict[np.dtype[Any], np.dtype[Any]] = {}


def _unsigned(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The unsigned integer type of ``dtype``'s size and byte order."""
    found = _UNSIGNED.get(dtype)
    if found is None:
        found = _UNSIGNED[dtype] = np.dtype(dtype.str.replace("i", "u"))
    return found


class Categorical(ElementwiseDistribution):
    """``i = categorical(probs) @ addr``: ``P(i = k) = probs[k]``, indices from 0 (not 1 as in Gen).

    ``probs`` of shape (..., K) is a batch: the value has shape ``probs.shape[:-1]`` and
    ``logpdf`` sums over the batch, so ``categorical(probs) @ "ys"`` with probs (N, K)
    scores N labels at once.
    """

    name = "categorical"
    is_discrete = True
    has_output_grad = False
    has_argument_grads = (True,)
    event_dims = (1,)
    _last_at: tuple[np.ndarray, tuple[int, ...], np.ndarray] | None = None
    """The last read-only array of valid indices (a Map's labels, read from the same
    constraints every step), the probabilities' shape it was picked from, and the flat
    positions it picks (read-only): the same labels at the same shape are checked and
    picked once."""

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """An int (or int array of shape ``probs.shape[:-1]``)."""
        (probs,) = args
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim == 0:
            raise ValueError("categorical: probs must have at least one dimension (K,)")
        cdf = np.cumsum(p, axis=-1)
        u = rng.random(p.shape[:-1] + (1,)) * cdf[..., -1:]
        draw = np.minimum(np.sum(cdf <= u, axis=-1), p.shape[-1] - 1)
        return int(draw) if draw.ndim == 0 else draw.astype(np.int64)

    def _indices(self, value: Any, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(idx, inside)``: integer indices (0 where invalid) and which are valid (None
        when all are)."""
        if probs.ndim == 0:
            raise ValueError("categorical: probs must have at least one dimension (K,)")
        k = probs.shape[-1]
        v = np.asarray(value)
        if v.shape != probs.shape[:-1]:
            raise ValueError(
                f"categorical: probs of shape {probs.shape} need a value of shape "
                f"{probs.shape[:-1]}; got {v.shape}"
            )
        kind = v.dtype.kind
        if kind in "iu":
            # the common case, all valid, in one pass: as unsigned, a negative index is huge
            as_unsigned = v.view(_unsigned(v.dtype)) if kind == "i" else v
            if v.size == 0 or as_unsigned.max() < k:
                return v.astype(np.int64, copy=False), None
            inside = (v >= 0) & (v < k)
        elif kind == "b":
            raise ValueError("categorical: the value is an index, not a bool")
        else:
            inside = (np.mod(v, 1) == 0) & (v >= 0) & (v < k)
        idx = np.where(inside, v, 0).astype(np.int64)
        return idx, inside

    def _logpdf(self, value: Any, *args: Any) -> float:
        (probs,) = args
        p = probs if type(probs) is np.ndarray else np.asarray(probs)
        if p.ndim == 1:  # the common case, one label (a loop's ``categorical(probs[i])``)
            i = value if type(value) is int else _one_index(value)
            if i is not None:  # index directly
                return float(_log(p[i])) if 0 <= i < len(p) else NEG_INF
        return super()._logpdf(value, p)

    def _logpdf_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        (probs,) = args
        p = np.asarray(probs)
        if p.ndim == 1:
            i = _one_index(value)
            if i is not None:
                g = np.zeros_like(p, dtype=np.result_type(p.dtype, np.float32))
                if 0 <= i < p.shape[0]:
                    g[i] = 1.0 / p[i]
                return None, g
        return super()._logpdf_grad(value, p)

    def _picked(self, value: Any, probs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(flat_probs, at, inside)``: probs as (rows, K), the flat position of each row's
        chosen entry (its first entry where the index is invalid) and which are valid
        (None when all are)."""
        p = probs if type(probs) is np.ndarray else np.asarray(probs)
        last = self._last_at
        if last is not None and last[0] is value and last[1] == p.shape \
                and not value.flags.writeable:
            return p.reshape(-1, p.shape[-1]), last[2], None  # a Map's labels again
        idx, inside = self._indices(value, p)
        k = p.shape[-1]
        flat = p.reshape(-1, k)
        at = _row_starts(flat.shape[0], k) + idx.reshape(-1)
        if inside is None and type(value) is np.ndarray and value.base is None \
                and not value.flags.writeable:  # nobody can change it: keep its positions
            at.flags.writeable = False
            self._last_at = (value, p.shape, at)
        return flat, at, None if inside is None else inside.reshape(-1)

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``log probs[..., value]`` per row; ``-inf`` for an index outside ``0 .. K-1``."""
        flat, at, inside = self._picked(value, args[0])
        shape = np.shape(args[0])[:-1]
        picked = flat.take(at)
        if inside is None or inside.all():
            return np.log(picked).reshape(shape)
        with np.errstate(divide="ignore"):
            return np.where(inside, np.log(picked), NEG_INF).reshape(shape)

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``1/probs[..., value]`` at the chosen index of each row, 0 elsewhere."""
        flat, at, inside = self._picked(value, args[0])
        kind = flat.dtype
        g = np.zeros(flat.shape, dtype=kind if kind in _FLOATS else np.result_type(kind, np.float32))
        picked = flat.take(at)
        if inside is None:  # every index valid: one flat gather and scatter
            g.reshape(-1)[at] = 1.0 / picked
        else:
            g.reshape(-1)[at] = np.where(inside, 1.0 / np.where(inside, picked, 1.0), 0.0)
        return None, g.reshape(np.shape(args[0]))


_FLOATS = frozenset(map(np.dtype, ("float32", "float64")))
"""Probabilities of these dtypes have gradients of their own dtype."""

_ROW_STARTS: dict[tuple[int, int], np.ndarray] = {}


def _row_starts(n: int, k: int) -> np.ndarray:
    """``arange(n) * k`` (read-only, kept for the shapes met most recently): the flat
    position of each row of an (n, k) array."""
    starts = _ROW_STARTS.get((n, k))
    if starts is None:
        if len(_ROW_STARTS) >= 16:
            _ROW_STARTS.clear()
        starts = np.arange(n, dtype=np.int64) * k
        starts.flags.writeable = False
        _ROW_STARTS[(n, k)] = starts
    return starts


categorical = Categorical()
