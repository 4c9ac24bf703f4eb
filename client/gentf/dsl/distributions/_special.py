"""Special functions in plain numpy (no scipy): ``gammaln``, ``digamma``, ``betaln``.

The client must import and run with numpy alone, so the log densities and their gradients
use these instead of ``scipy.special``. They take and return float arrays (or floats for
scalar input) and are not differentiated by autograd (the distributions supply their
gradients themselves).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["betaln", "digamma", "gammaln"]


def _lgamma(x: float) -> float:
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):
        # poles (0, -1, -2, ...) and overflow: log|Gamma| is +inf there, as in scipy
        return math.inf


_LGAMMA = np.frompyfunc(_lgamma, 1, 1)


def gammaln(x: Any) -> Any:
    """``log|Gamma(x)|`` elementwise; ``+inf`` at the poles 0, -1, -2, ...

    Exact to the last bits of ``math.lgamma`` (which it calls per element).
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        return _lgamma(float(arr))
    return np.asarray(_LGAMMA(arr), dtype=np.float64)


# Bernoulli-number coefficients of the asymptotic series
# digamma(x) ~ log x - 1/(2x) - sum_k B_2k / (2k x^2k)
_PSI_SERIES = (
    1.0 / 12.0,
    -1.0 / 120.0,
    1.0 / 252.0,
    -1.0 / 240.0,
    1.0 / 132.0,
    -691.0 / 32760.0,
    1.0 / 12.0,
)
_PSI_SHIFT = 10.0


def _digamma_positive(x: np.ndarray) -> np.ndarray:
    """``digamma`` for ``x > 0``: recurrence up to 10, then the asymptotic series."""
    x = x.copy()
    acc = np.zeros_like(x)
    small = x < _PSI_SHIFT
    while np.any(small):
        acc[small] -= 1.0 / x[small]
        x[small] += 1.0
        small = x < _PSI_SHIFT
    inv2 = 1.0 / (x * x)
    series = np.zeros_like(x)
    for c in reversed(_PSI_SERIES):
        series = (series + c) * inv2
    out: np.ndarray = acc + np.log(x) - 0.5 / x - series
    return out


def digamma(x: Any) -> Any:
    """``d/dx log Gamma(x)`` elementwise, to about 1e-14 relative.

    Negative non-integers use the reflection ``psi(1-x) - pi cot(pi x)``; the poles
    (0, -1, ...) give ``nan`` (``-inf`` at 0, as scipy); ``+inf`` gives ``+inf``.
    """
    arr = np.asarray(x, dtype=np.float64)
    flat = np.atleast_1d(arr).ravel()
    out = np.full(flat.shape, np.nan)
    pos = flat > 0
    finite_pos = pos & np.isfinite(flat)
    out[finite_pos] = _digamma_positive(flat[finite_pos])
    out[flat == np.inf] = np.inf
    out[flat == 0] = -np.inf
    neg = (flat < 0) & np.isfinite(flat) & (flat != np.floor(flat))
    if np.any(neg):
        xn = flat[neg]
        out[neg] = _digamma_positive(1.0 - xn) - np.pi / np.tan(np.pi * xn)
    if arr.ndim == 0:
        return float(out[0])
    return out.reshape(arr.shape)


def betaln(a: Any, b: Any) -> Any:
    """``log|B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)``, broadcast."""
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    return gammaln(a_arr) + gammaln(b_arr) - gammaln(a_arr + b_arr)
