"""``binomial(n, p)``: the number of successes in ``n`` trials of probability ``p``."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import gammaln

from gentf.dsl.distributions._base import Distribution
from gentf.dsl.distributions._support import restrict, total

__all__ = ["Binomial", "binomial"]


class Binomial(Distribution):
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

    def logpdf(self, value: Any, *args: Any) -> Any:
        """``log C(n, k) + k log p + (n-k) log(1-p)`` for integers ``0 <= k <= n``."""
        n, p = args
        v = np.asarray(value, dtype=np.float64)
        nf = np.asarray(n, dtype=np.float64)
        inside = (v >= 0) & (v <= nf) & (np.mod(v, 1) == 0)
        k = restrict(inside, v, 0.0)
        log_comb = gammaln(nf + 1.0) - gammaln(k + 1.0) - gammaln(nf - k + 1.0)
        # k log p and (n-k) log(1-p), written so that p = 0 or 1 gives 0 * log 0 = 0.
        succ = anp.where(k > 0, k * anp.log(anp.where(k > 0, p, 1.0)), 0.0)
        fail = anp.where(nf - k > 0, (nf - k) * anp.log1p(-anp.where(nf - k > 0, p, 0.0)), 0.0)
        return total(inside, log_comb + succ + fail)


binomial = Binomial()
