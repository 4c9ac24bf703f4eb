"""CloseSession gives a session's memory back: a session process holding 1 GiB of variables
returns to near its resident size before the session once the session is closed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_SCRIPT = r'''
import json, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
from gentf.v1 import graph_pb2
from gentf.wire import fill_tensor
from gentf_server.core.registry import op_registry
from gentf_server.core.sessions import SessionManager

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

manager = SessionManager(op_registry())
warm = manager.create()  # TensorFlow's runtime and caches, once
warm.extend([])
manager.close(warm.session_id)
before = rss()
session = manager.create()
for i in range(16):  # 16 variables of 64 MiB
    node = graph_pb2.NodeDef(name=f"v{i}", op="VarHandleOp")
    value = np.full((16, 1 << 20), float(i), np.float32)
    node.attrs["dtype"].type = 1
    node.attrs["shape"].shape.dims.extend(value.shape)
    fill_tensor(node.initial_value, value)
    session.extend([node])
    del node, value
held = rss()
manager.close(session.session_id)
after = rss()
print(json.dumps({"before": before, "held": held, "after": after}))
'''


@pytest.mark.slow
def test_closing_a_session_returns_its_variables_memory():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                         timeout=300, check=True)
    sizes = json.loads(out.stdout.strip().splitlines()[-1])
    held = sizes["held"] - sizes["before"]
    kept = sizes["after"] - sizes["before"]
    print(f"RSS: +{held / 2**20:.0f} MiB with 1 GiB of variables, +{kept / 2**20:.0f} MiB "
          f"after CloseSession")
    assert held > 1 << 30
    assert kept < 0.1 * held
