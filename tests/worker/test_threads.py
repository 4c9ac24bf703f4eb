"""TensorFlow's thread pools in a session process: ``--thread-spinning``, ``--intra-op-threads``
and ``--inter-op-threads`` reach TensorFlow before it initialises, in a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from gentf_server.service.server import WorkerConfig

PY = sys.executable

_PROBE = """
import json, sys
from gentf_server.core.devices import configure_devices
configure_devices(json.loads(sys.argv[1]))
import tensorflow as tf
from tensorflow.python.eager import context
tf.constant(1.0) + 1.0  # the runtime is initialised with the configuration
print(json.dumps({
    "intra": tf.config.threading.get_intra_op_parallelism_threads(),
    "inter": tf.config.threading.get_inter_op_parallelism_threads(),
    "spinning_disabled": context.context().config.experimental.disable_thread_spinning,
}))
"""


def _probe(settings: dict[str, object]) -> dict[str, object]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([PY, "-c", _PROBE, json.dumps(settings)], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_worker_config_turns_spinning_off_by_default() -> None:
    devices = WorkerConfig().child_config()["devices"]
    assert devices["thread_spinning"] is False
    assert devices["intra_op_threads"] == 0 and devices["inter_op_threads"] == 0


def test_settings_reach_tensorflow_before_it_initialises() -> None:
    got = _probe({"thread_spinning": False, "intra_op_threads": 1, "inter_op_threads": 3})
    assert got == {"intra": 1, "inter": 3, "spinning_disabled": True}


def test_without_settings_tensorflow_keeps_its_defaults() -> None:
    got = _probe({})
    assert got == {"intra": 0, "inter": 0, "spinning_disabled": False}


@pytest.mark.parametrize("flag", ["--intra-op-threads", "--inter-op-threads"])
def test_a_negative_thread_count_refuses_to_start(flag: str) -> None:
    proc = subprocess.run([PY, "-m", "gentf_server", "--port", "0", flag, "-1"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), check=False)
    assert proc.returncode == 2
    assert f"{flag} must be 0 or more" in proc.stderr
