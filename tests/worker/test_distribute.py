"""Issue 11: a worker with ``--strategy mirrored --logical-cpus 2`` against a plain worker.

Both workers are real subprocesses (logical devices must be configured before TensorFlow
initializes, which a test process that already ran TensorFlow cannot do). The same float64
model is built in a session on each; forward values, argument gradients, accumulated
parameter gradients and Adam updates must agree to rtol 1e-9, and with an independent numpy
reference. A batched function splits its rows over the two replicas (batch sizes 64, 63 and
1); a scalar mean loss (not row-independent) runs whole on one device.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from gentf import TFFunction, tf
from gentf.remote._transport import Transport
from gentf.v1 import worker_pb2
from parity import (
    N_IN,
    Model,
    check_adam_and_sums,
    check_forward_and_gradients,
    check_mean_loss,
    check_trained_alike,
    fused_training,
    start_worker,
    stop_workers,
)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A plain worker and a mirrored one over 2 logical CPUs (session processes, one warm)."""
    plain_dir = tmp_path_factory.mktemp("plain")
    mirrored_dir = tmp_path_factory.mktemp("mirrored")
    procs: list[subprocess.Popen[str]] = []
    try:
        plain, plain_address = start_worker(plain_dir, "--log-level", "INFO")
        procs.append(plain)
        mirrored, mirrored_address = start_worker(mirrored_dir, "--log-level", "INFO",
                                                  "--strategy", "mirrored", "--logical-cpus", "2")
        procs.append(mirrored)
        yield {"plain": plain_address, "mirrored": mirrored_address, "mirrored_log": mirrored_dir / "log"}
    finally:
        stop_workers(procs)


@pytest.fixture(scope="module")
def models(workers: dict[str, Any]) -> Iterator[tuple[Model, Model]]:
    plain, mirrored = Model(workers["plain"]), Model(workers["mirrored"])
    yield plain, mirrored
    plain.close()
    mirrored.close()


def test_worker_lists_and_logs_its_two_replicas(workers: dict[str, Any]) -> None:
    live = Transport(workers["mirrored"])
    try:
        info = live.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest())
    finally:
        live.close()
    assert [d.rsplit("/", 1)[-1] for d in info.devices] == ["device:CPU:0", "device:CPU:1"]
    live = Transport(workers["plain"])
    try:
        assert len(live.call("GetWorkerInfo", worker_pb2.GetWorkerInfoRequest()).devices) == 1
    finally:
        live.close()
    assert "strategy mirrored over" in workers["mirrored_log"].read_text()


@pytest.mark.parametrize("rows", [64, 63, 1])
def test_batched_forward_and_gradients_match_one_device(models: tuple[Model, Model], rows: int) -> None:
    check_forward_and_gradients(*models, rows)


def test_mean_loss_runs_whole_and_matches(models: tuple[Model, Model]) -> None:
    check_mean_loss(*models)


def test_adam_updates_and_accumulated_sums_match(models: tuple[Model, Model]) -> None:
    """Several accumulations of different batch sizes sum exactly; Adam steps from them move
    the (mirrored) variables the same way, and later split calls see the new values: the
    replicas' copies were refreshed after the update."""
    check_adam_and_sums(*models)


def test_only_the_batched_function_is_split(models: tuple[Model, Model],
                                            workers: dict[str, Any]) -> None:
    log = workers["mirrored_log"].read_text()
    assert f"function {models[1].net.function_id}: batched, rows split over 2 replicas" in log
    assert f"function {models[1].loss.function_id}: batched" not in log


def test_batched_needs_a_leading_none_dimension(models: tuple[Model, Model]) -> None:
    from gentf import errors

    _, mirrored = models
    with mirrored.graph.as_default():
        fixed = tf.placeholder(tf.float64, shape=(4, N_IN), name="fixed")
        with pytest.raises(errors.InvalidArgumentError, match="leading batch dimension"):
            TFFunction([], [fixed], tf.square(fixed), mirrored.sess, batched=True)


def test_fused_one_round_trip_steps_match(workers: dict[str, Any]) -> None:
    """Generate of a @gen model, accumulate_param_gradients_only and ParamUpdate.apply (ADAM),
    which the worker fuses (a split forward and a split accumulation inside one TensorFlow
    call), move both workers' parameters alike."""
    finals = []
    for address in (workers["plain"], workers["mirrored"]):
        m = Model(address)
        weights = fused_training(m)
        finals.append((weights, m.values()))
        m.close()
    check_trained_alike(*finals)
