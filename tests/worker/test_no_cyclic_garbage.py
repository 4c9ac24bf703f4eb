"""A training step leaves no garbage that only Python's cycle collector can free.

Objects freed by reference counting never start a collection; a step that leaves reference
cycles behind makes the collector run every hundred steps or so, and each run of its oldest
generation walks every object of the client process (grpc, protobuf, numpy: over 100,000).
Nested recursive functions were the cycles found (a function and its closure cell refer to
each other): this checks the steps of ``benchmarks/bench_step.py`` and ``Session.run`` on
nested fetches against a real worker."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_step


@pytest.fixture(scope="module")
def steps(worker: Any) -> Iterator[dict[str, Callable[[], object]]]:
    """``bench_step.py``'s bare, Map-model, loop-model and three-round-trip softmax steps,
    and a run with nested fetches."""
    xs, ys = bench_step.digits_784()
    setup = bench_step.GentfSetup(worker.address, "softmax", xs, ys)
    params = setup.params

    def nested_run() -> object:
        return setup.sess.run({"w": [params[0], (params[1], params[0])], "op": setup.updater_op})

    yield {"bare": setup.bare_1rt, "map": setup.step_1rt, "loop": setup.loop_1rt,
           "three_trips": setup.step_3rt, "nested_run": nested_run}
    setup.close()


@pytest.fixture
def collector_saving_all() -> Iterator[list[Any]]:
    """``gc.garbage`` filled with what each collection finds (DEBUG_SAVEALL), emptied and
    switched off afterwards."""
    gc.collect()
    gc.garbage.clear()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.parametrize("name", ["bare", "map", "loop", "three_trips", "nested_run"])
def test_a_steady_step_leaves_no_cyclic_garbage(steps: dict[str, Callable[[], object]],
                                                 name: str, collector_saving_all: list[Any]) -> None:
    step = steps[name]
    for _ in range(3):  # first calls construct and cache what later calls reuse
        step()
    gc.collect()
    collector_saving_all.clear()
    for _ in range(3):
        step()
    gc.collect()
    assert [type(o).__name__ for o in collector_saving_all] == []
