"""A client-only install: a fresh virtual environment holding exactly the client's declared
dependencies (pyproject's ``dependencies`` and what they require, no extras) imports gentf
without scipy or TensorFlow and trains a Map model against a worker from the dev environment.

Offline by construction: the fresh venv gets no pip; the declared distributions' files are
linked from the running interpreter's installed copies (found through their metadata).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import textwrap
import venv
from importlib import metadata
from typing import Any

import pytest
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0]


def _closure(requirements: list[str]) -> set[str]:
    """Distribution names needed by ``requirements`` (markers naming an extra are skipped)."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    env = default_environment()
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            continue
        name = req.name.lower()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(metadata.requires(name) or [])
    return seen


def _top_level_paths(dist_name: str) -> set[pathlib.Path]:
    dist = metadata.distribution(dist_name)
    tops: set[pathlib.Path] = set()
    for f in dist.files or []:
        parts = pathlib.PurePath(f).parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".dist-info"):
            continue
        tops.add(pathlib.Path(str(dist.locate_file(parts[0]))))
    return tops


def _site_packages(env_dir: pathlib.Path) -> pathlib.Path:
    out = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                          "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True)
    return pathlib.Path(out.stdout.strip())


SCRIPT = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    import gentf
    import_s = time.perf_counter() - t0
    import numpy as np
    from gentf import (Map, TFFunction, accumulate_param_gradients_only, categorical,
                       choicemap, gen, generate, runtf, tf)
    from gentf.inference import FixedStepGradientDescent, ParamUpdate
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("scipy", "tensorflow"))
    assert not heavy, heavy

    rng = np.random.default_rng(0)
    xs = rng.normal(size=(60, 4))
    ys = np.argmax(xs[:, :3], axis=1)
    sess = tf.Session(sys.argv[1])
    x = tf.placeholder(tf.float64, shape=(None, 4), name="x")
    W = tf.Variable(np.zeros((4, 3)), name="W")
    net = TFFunction([W], [x], tf.nn.softmax(tf.matmul(x, W)), sess)

    @gen
    def model(xs):
        Map(categorical)(net(xs) @ "net") @ "y"

    labels = choicemap({"y": {i: int(y) for i, y in enumerate(ys)}})
    update = ParamUpdate(FixedStepGradientDescent(0.05), {net: [W]})
    weights = []
    for _ in range(30):
        trace, w = generate(model, (xs,), labels)
        accumulate_param_gradients_only(trace)
        update.apply()
        weights.append(w)
    acc = float(np.mean(np.argmax(net(xs), axis=1) == ys))
    sess.close()
    print(f"first {weights[0]:.4f} last {weights[-1]:.4f} accuracy {acc:.3f} import {import_s:.3f}")
""")


def test_client_only_install_imports_and_trains(worker: Any, tmp_path: pathlib.Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = _closure(project["dependencies"])
    assert {"numpy", "grpcio", "protobuf", "autograd"} <= needed
    assert not needed & {"scipy", "tensorflow", "tensorflow-cpu"}, needed

    env_dir = tmp_path / "client-venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    site = _site_packages(env_dir)
    for dist_name in sorted(needed):
        for top in _top_level_paths(dist_name):
            target = site / top.name
            if top.exists() and not target.exists():
                target.symlink_to(top)
    (site / "gentf-client.pth").write_text(str(ROOT / "client") + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", SCRIPT, worker.address],  # type: ignore[attr-defined]
        check=False, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"first (\S+) last (\S+) accuracy (\S+) import (\S+)", result.stdout)
    assert match, result.stdout
    first, last, accuracy = (float(match.group(i)) for i in (1, 2, 3))
    assert first == pytest.approx(60 * -1.0986122886681098, abs=1e-4)  # 60 * log(1/3)
    assert last > first + 10.0 and accuracy >= 0.8, result.stdout
    # and scipy really is missing there (the check above is not vacuous)
    missing = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import scipy"],
                             check=False, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert missing.returncode != 0 and "No module named 'scipy'" in missing.stderr
    print(result.stdout.strip(), file=sys.stderr)
