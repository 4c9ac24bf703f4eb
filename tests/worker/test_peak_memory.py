"""Worker peak memory for big tensors (issue 9: at most 2.5x the tensors it keeps): a session
process constructing a 256 MiB variable from its shipped initial value, then feeding a
256 MiB value into it and fetching it, never holds more than twice the variable above what
it held before."""

from __future__ import annotations

import numpy as np
import pytest
from gentf import tf
from gentf.graph import Graph

MIB = 1 << 20


def _vm(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


@pytest.mark.slow
def test_a_256_mib_variable_constructed_fed_and_fetched_peaks_under_2_5x():
    from gentf_server.service.server import WorkerConfig, background_server

    n = 256 * MIB
    value = np.full(n // 4, 1.5, np.float32)
    with background_server(WorkerConfig(port=0, isolation="process")) as server, \
            Graph().as_default():
        sess = tf.Session(server.address)
        small = tf.Variable(np.ones(3, np.float32), name="small")
        sess.run(small)  # the session's process is up, with TensorFlow loaded
        (proc,) = [p for p in server.supervisor._processes if sess.session_id in p.sessions]
        with open(f"/proc/{proc.pid}/clear_refs", "w") as f:
            f.write("5")  # resets the peak (VmHWM) to the resident size now
        base = _vm(proc.pid, "VmRSS")
        x = tf.placeholder(tf.float32, shape=(n // 4,), name="x")
        v = tf.Variable(value, name="v")
        assign = tf.assign(v, x)
        np.testing.assert_array_equal(sess.run(v[:4]), value[:4])
        sess.run(assign.op, feed_dict={x: value * 2})
        out = sess.run(v)
        np.testing.assert_array_equal(out, value * 2)
        del out
        peak = _vm(proc.pid, "VmHWM") - base
        sess.close()
    print(f"session process peak: +{peak / MIB:.0f} MiB for a {n // MIB} MiB variable "
          f"({peak / n:.2f}x)")
    assert n <= peak <= 2.5 * n
