"""A training step leaves no garbage that only Python's cycle collector can free.

Objects freed by reference counting never start a collection; a step that leaves reference
cycles behind makes the collector run every hundred steps or so, and each run of its oldest
generation walks every object of the client process (grpc, protobuf, numpy: over 100,000).
Nested recursive functions were the cycles found (a function and its closure cell refer to
each other): this checks the steps of ``benchmarks/bench_step.py`` and ``Session.run`` on
nested fetches against a real worker."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from gentf import (
    Map,
    TFFunction,
    accumulate_param_gradients,
    accumulate_param_gradients_only,
    categorical,
    choicemap,
    gen,
    generate,
    runtf,
    tf,
)
from gentf.inference import FixedStepGradientDescent, ParamUpdate


@pytest.fixture
def steps(session: Any) -> dict[str, Callable[[], object]]:
    """The bare, Map-model, loop-model and three-round-trip steps of a softmax network, and
    a run with nested fetches."""
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(20, 6)).astype(np.float32)
    ys = rng.integers(0, 4, size=20)
    x = tf.placeholder(tf.float32, shape=(None, 6), name="xs")
    W = tf.Variable(rng.normal(size=(6, 4)).astype(np.float32), name="W")
    b = tf.Variable(np.zeros(4, np.float32), name="b")
    net = TFFunction([W, b], [x], tf.nn.softmax(tf.add(tf.matmul(x, W), b)), session)
    update = ParamUpdate(FixedStepGradientDescent(0.01), {net: [W, b]})
    updater = net.make_param_updater(FixedStepGradientDescent(0.01)).op

    @gen
    def map_model(xs: np.ndarray) -> None:
        probs = net(xs) @ "net"
        Map(categorical)(probs) @ "y"

    @gen
    def loop_model(xs: np.ndarray) -> None:
        probs = net(xs) @ "net"
        for i in range(len(xs)):
            categorical(probs[i]) @ ("y", i)

    map_labels = choicemap({"y": {i: int(v) for i, v in enumerate(ys)}})
    loop_labels = choicemap({("y", i): int(v) for i, v in enumerate(ys)})

    def model_step(model: Any, labels: Any) -> Callable[[], object]:
        def step() -> object:
            trace, _ = generate(model, (xs,), labels)
            accumulate_param_gradients_only(trace)
            update.apply()
            return trace
        return step

    def bare() -> object:
        trace, _ = generate(net, (xs,), choicemap())
        accumulate_param_gradients_only(trace, np.ones((20, 4), np.float32), 1.0)
        update.apply()
        return trace

    def three_trips() -> object:
        trace, _ = generate(net, (xs,), choicemap())
        accumulate_param_gradients(trace, np.ones((20, 4), np.float32), 1.0)
        runtf(net, updater)
        return trace

    def nested_run() -> object:
        return session.run({"w": [W, (b, W)], "op": updater})

    return {"bare": bare, "map": model_step(map_model, map_labels),
            "loop": model_step(loop_model, loop_labels), "three_trips": three_trips,
            "nested_run": nested_run}


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
