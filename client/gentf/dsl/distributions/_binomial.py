"""``binomial(n, p)``: successes in ``n`` trials."""

from __future__ import annotations

from typing import Any

import numpy as np

from gentf.dsl.distributions._base import ElementwiseDistribution
from gentf.dsl.distributions._special import gammaln
from gentf.dsl.distributions._support import is_integer, mask, restrict, zero_outside

__all__ = ["Binomial", "binomial"]


class Binomial(ElementwiseDistribution):
    """``k = binomial(n, p) @ addr``: ``n`` a non-negative integer; broadcast over arrays."""

    name = "binomial"
    is_discrete = True
    has_output_grad = False
    has_argument_grads = (False, True)

    def sample(self, rng: np.random.Generator, *args: Any) -> Any:
        """An int (or int array of the broadcast shape)."""
        n, p = args
        draw = rng.binomial(n, p)
        return int(draw) if np.ndim(draw) == 0 else draw

    @staticmethod
    def _parts(value: Any, n: Any, p: Any) -> tuple[Any, ...]:
        v = np.asarray(value, dtype=np.float64)
        nf = np.asarray(n, dtype=np.float64)
        inside = (v >= 0) & (v <= nf) & is_integer(v)
        k = restrict(inside, v, 0.0)
        return inside, k, nf, np.asarray(p)

    def logpdf_terms(self, value: Any, *args: Any) -> Any:
        """``log C(n, k) + k log p + (n-k) log(1-p)`` for integers ``0 <= k <= n``."""
        inside, k, nf, p = self._parts(value, *args)
        log_comb = gammaln(nf + 1.0) - gammaln(k + 1.0) - gammaln(nf - k + 1.0)
        # k log p and (n-k) log(1-p), written so that p = 0 or 1 gives 0 * log 0 = 0.
        succ = np.where(k > 0, k * np.log(np.where(k > 0, p, 1.0)), 0.0)
        fail = np.where(nf - k > 0, (nf - k) * np.log1p(-np.where(nf - k > 0, p, 0.0)), 0.0)
        return mask(inside, log_comb + succ + fail)

    def logpdf_terms_grad(self, value: Any, *args: Any) -> tuple[Any, ...]:
        """``d/dp = k/p - (n-k)/(1-p)`` (no gradient for the count ``n``)."""
        inside, k, nf, p = self._parts(value, *args)
        succ = np.where(k > 0, k / np.where(k > 0, p, 1.0), 0.0)
        fail = np.where(nf - k > 0, (nf - k) / (1.0 - np.where(nf - k > 0, p, 0.0)), 0.0)
        return None, None, zero_outside(inside, succ - fail)


binomial = Binomial()
