"""Helpers for log densities with a restricted support (autograd-safe, warning-free)."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
from autograd.tracer import getval

NEG_INF = -anp.inf


def restrict(inside: Any, value: Any, safe: float) -> Any:
    """``value`` where ``inside``, else ``safe``: keeps log/gammaln away from bad inputs."""
    return anp.where(inside, value, safe)


def total(inside: Any, logp: Any) -> Any:
    """The sum of ``logp`` where ``inside``, ``-inf`` if any element is outside."""
    return anp.sum(anp.where(inside, logp, NEG_INF))


def raw(value: Any) -> Any:
    """The plain numpy value behind a possibly tracked value (for support tests)."""
    return anp.asarray(getval(value))
