"""Op fuzz: every allowed op, random inputs and attributes, over real gRPC to a real worker
subprocess (``python -m gentf_server --port 0 --port-file F``): 0 deaths, 0 hangs, 0
INTERNAL/UNKNOWN statuses.

CI runs a bounded slice: a fixed seed and ``GENTF_FUZZ_CASES`` cases per op (default 4,
about 2,000 cases, about 2 minutes on 2 cores). More, or another seed::

    GENTF_FUZZ_CASES=50 GENTF_FUZZ_SEED=1 pytest -m fuzz tests/worker/test_op_fuzz.py

or, printing the tally, ``python tests/worker/op_fuzz.py 50 [OP ...]``. A finding is fixed
by validating the node in ``gentf_server.core`` or by refusing the op (with its reason) in
``tools/op_fuzz_exclusions.txt`` and rerunning ``tools/gen_op_allowlist.py``.
"""

from __future__ import annotations

import os

import pytest
from op_fuzz import run


@pytest.mark.slow
@pytest.mark.fuzz
def test_every_allowed_op_survives_random_inputs_and_attributes() -> None:
    cases = int(os.environ.get("GENTF_FUZZ_CASES", "4"))
    seed = int(os.environ.get("GENTF_FUZZ_SEED", "0"))
    tally = run(cases, seed)
    print(tally.summary())
    assert len(tally.ops) > 400 and tally.cases >= len(tally.ops)
    assert tally.runs > tally.cases // 10  # a useful share of the cases reach TensorFlow
    assert not tally.deaths, tally.summary()
    assert not tally.hangs, tally.summary()
    assert not tally.imprecise, tally.summary()
