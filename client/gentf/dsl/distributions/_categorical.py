"""``categorical(probs)``: an index in ``0 .. K-1`` drawn with probabilities ``probs``."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np

from gentf.dsl.distributions._base import Distribution

__all__ = ["Categorical", "categorical"]


class Categorical(Distribution):
    """``i = categorical(probs) @ addr``: ``P(i = k) = probs[k]``, indices from 0 (not 1 as in Gen).

    ``probs`` of shape (..., K) is a batch: the value has shape ``probs.shape[:-1]`` and
    ``logpdf`` sums over the batch, so ``categorical(probs) @ "ys"`` with probs (N, K)
    scores N labels at once.
    """

    name = "categorical"
    is_discrete = True
    has_output_grad = False
    has_argument_grads = (True,)

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

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``sum(log probs[..., value])``; ``-inf`` for an index outside ``0 .. K-1``."""
        (probs,) = args
        if isinstance(probs, (list, tuple)):
            probs = anp.array(probs)
        shape = anp.shape(probs)
        if len(shape) == 1 and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            # the common case, one label: index directly (two autograd operations)
            return anp.log(probs[value]) if 0 <= value < shape[0] else -np.inf
        k = shape[-1]
        idx = np.asarray(value)
        if not np.issubdtype(idx.dtype, np.integer):
            if not np.all(np.mod(idx, 1) == 0):
                return -np.inf
            idx = idx.astype(np.int64)
        if idx.shape != anp.shape(probs)[:-1]:
            raise ValueError(
                f"categorical: probs of shape {anp.shape(probs)} need a value of shape "
                f"{anp.shape(probs)[:-1]}; got {idx.shape}"
            )
        if np.any(idx < 0) or np.any(idx >= k):
            return -np.inf
        flat = anp.reshape(probs, (-1, k))
        picked = flat[np.arange(flat.shape[0]), idx.reshape(-1)]
        return anp.sum(anp.log(picked))


categorical = Categorical()
