"""Fixtures for the modeling-layer tests (gfi, dsl, inference): no worker needed."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_CLIENT = os.path.join(os.path.dirname(os.path.dirname(_HERE)), "client")
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
try:
    import gentf  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, _CLIENT)

from gentf.dsl import seed


@pytest.fixture(autouse=True)
def _seeded() -> Iterator[None]:
    """Every test starts from the same state of the modeling layer's generator."""
    seed(12345)
    yield
