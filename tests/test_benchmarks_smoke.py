"""Smoke tests of the benchmarks: each runs briefly and prints what it promises (bench_step.py:
a finite median for each contender, its floors and ratios, the same numbers as JSON;
bench_batcher.py, bench_cpu.py and bench_bulk.py: their rates and ratios; bench_import.py:
gentf's import time against its limit)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTENDERS = ("gentf.step_1rt", "gentf_direct.step_1rt", "gentf_xla.step_1rt", "gentf.forward",
              "echo.step_1call",
              "echo.forward", "tf.step_fused", "tf.step_fused_xla", "tf.forward", "tfremote.step",
              "composed.step_1rt")


@pytest.mark.slow
def test_bench_step_quick_prints_every_contender(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "client"), str(ROOT / "server"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_step.py"), "--quick", "--models",
         "softmax", "--only", ",".join(CONTENDERS) + ",bulk.gentf_up,bulk.gentf_direct_up,bulk.grpc_up,first",
         "--bulk-mib", "4", "--first-calls", "1", "--json", str(out_json)],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert re.search(r"^machine: \d+ cores .*load average [\d.]+ [\d.]+ [\d.]+", text, re.MULTILINE), text
    for name in CONTENDERS:
        m = re.search(rf"^{re.escape(name)}\s+(\S+)", text, re.MULTILINE)
        assert m is not None, f"{name} missing from:\n{text}"
        assert math.isfinite(float(m.group(1))) and float(m.group(1)) > 0, m.group(0)
    # gentf rows carry their floor and both ratios; the floor rows are finite sums.
    row = re.search(r"^gentf\.step_1rt\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)",
                    text, re.MULTILINE)
    assert row is not None, text
    values = [float(v) for v in row.groups()]
    assert all(math.isfinite(v) and v > 0 for v in values), row.group(0)
    assert values[2] == pytest.approx(values[0] / values[1], rel=0.01)
    composed = re.search(r"^composed\.step_1rt\s+(\S+)", text, re.MULTILINE)
    assert composed is not None, text
    assert values[5] == pytest.approx(values[0] / float(composed.group(1)), rel=0.01)
    for floor in ("floor.step_1rt", "floor.step_1rt_xla", "floor.forward"):
        m = re.search(rf"^{re.escape(floor)}\s+(\S+)", text, re.MULTILINE)
        assert m is not None and math.isfinite(float(m.group(1))), text
    assert re.search(r"^bulk\.gentf_up_4\s+\d+", text, re.MULTILINE), text
    assert re.search(r"^bulk\.gentf_direct_up_4\s+\d+", text, re.MULTILINE), text
    assert re.search(r"^bulk\.grpc_up_4\s+\d+", text, re.MULTILINE), text
    assert "gentf (direct) / bare gRPC, up 4 MiB" in text, text
    assert "first / steady" in text, text

    results = json.loads(out_json.read_text())
    softmax = results["models"]["softmax"]
    assert softmax["round_trips"]["step_1rt"] == 1.0  # the deferred step is one round trip
    assert softmax["round_trips"]["step_3rt"] == 3.0
    for name in CONTENDERS:
        assert math.isfinite(softmax["median_us"][name]), name
    # The echo carries exactly the bytes gentf's one-round-trip step sent and received.
    (method, request, reply), = softmax["wire_bytes"]["step_1rt"]
    assert method == "Batch" and request > 100 * 784 * 4 and reply > 100 * 10 * 4
    # The goals' verdicts, paired by round, come with the run (and from the saved JSON alike).
    (step_floor,) = [v for v in results["goals"]["softmax"] if v["goal"].startswith("1. step / floor")]
    assert step_floor["rounds"] >= 1 and 0 < step_floor["paired_min"] <= step_floor["paired_max"]
    assert "goals, softmax" in text and "goals, bulk" in text, text


def test_goal_verdicts_pair_the_rounds_and_count_those_meeting_the_limit() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _bench_goals import Goal, model_verdicts, verdict

    samples = {"a": [10.0, 30.0, 12.0], "b": [4.0, 10.0, 5.0], "c": [4.0, 10.0, 5.0]}
    v = verdict(Goal("a / (b + c)", "a", ("b", "c"), 1.25), samples)
    assert v is not None
    assert [v["paired_min"], v["paired_median"], v["paired_max"]] == [1.2, 1.25, 1.5]
    assert v["ratio_of_medians"] == 12.0 / 10.0 and (v["rounds_met"], v["rounds"]) == (2, 3)
    # a rate: steps/s ratios are the inverse of the per-step times', met when at least
    r = verdict(Goal("rate", "a", ("b",), 0.35, at_least=True, rate=True), samples)
    assert r is not None and r["paired_median"] == pytest.approx(0.4) and r["rounds_met"] == 2
    assert verdict(Goal("missing", "a", ("nope",), 1.0), samples) is None
    # a floor made of parts as the numerator (the floor through the proxy: b's rate over b + c's)
    f = verdict(Goal("floor", ("b", "c"), ("b",), 0.92, at_least=True, rate=True), samples)
    assert f is not None and f["paired_median"] == pytest.approx(0.5) and f["rounds_met"] == 0
    assert f["ratio_of_medians"] == pytest.approx(5.0 / 10.0)
    run = {"models": {"softmax": {"samples_us": {
        "gentf_direct.step_1rt": [2.0, 2.0], "gentf_direct.bare_1rt": [1.0, 2.0]}}},
        "bulk_samples_us": {"bulk.gentf_up_64": [100.0], "bulk.grpc_up_64": [90.0]}}
    out = model_verdicts(run)
    (map_bare,) = out["softmax"]
    assert map_bare["goal"] == "3. Map model / bare step" and map_bare["rounds_met"] == 1
    (bulk,) = out["bulk"]
    assert bulk["paired_median"] == pytest.approx(0.9) and bulk["rounds_met"] == 1


@pytest.mark.slow
def test_bench_batcher_quick_prints_both_rates(tmp_path: Path) -> None:
    """benchmarks/bench_batcher.py: finite calls/s with and without the dynamic batcher, and
    with 4 concurrent callers at least one merged call."""
    out_json = tmp_path / "batcher.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "client"), str(ROOT / "server"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_batcher.py"), "--callers", "1,4",
         "--seconds", "0.5", "--delay-us", "20000", "--json", str(out_json)],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"^\s+4\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+$", proc.stdout, re.MULTILINE), proc.stdout
    points = json.loads(out_json.read_text())["points"]
    assert [p["callers"] for p in points] == [1, 4]
    for p in points:
        assert math.isfinite(p["off_calls_per_s"]) and p["off_calls_per_s"] > 0
        assert math.isfinite(p["on_calls_per_s"]) and p["on_calls_per_s"] > 0
    assert points[1]["merged_calls"] >= 2


@pytest.mark.slow
def test_bench_cpu_prints_each_process_against_its_floor_part() -> None:
    """benchmarks/bench_cpu.py: finite CPU microseconds per step for gentf's three processes
    and the floor's parts, each ratio the quotient of its row."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "client"), str(ROOT / "server"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_cpu.py"), "--models", "softmax",
         "--steps", "80", "--rounds", "1"],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    for label, anchor in (("client, whole process", "echo client"), ("front door", "echo server"),
                          ("session process", "TF fused step"), ("all three processes", "floor"),
                          ("wall per step", "echo + TF")):
        m = re.search(rf"^{re.escape(label)}\s+(\S+)\s+(\S+)\s+(\S+)\s+{re.escape(anchor)}"
                      r"\s+(\S+)\s+(\S+)\s+(\S+)$", text, re.MULTILINE)
        assert m is not None, f"{label} missing from:\n{text}"
        step, bare, direct, floor_part, ratio, direct_ratio = (float(v) for v in m.groups())
        assert step > 0 and bare > 0 and direct >= 0 and floor_part > 0, m.group(0)
        assert ratio == pytest.approx(step / floor_part, rel=0.02, abs=0.01), m.group(0)
        assert direct_ratio == pytest.approx(direct / floor_part, rel=0.02, abs=0.01), m.group(0)
    hot = re.search(r"^  same Python, replies canned\s+(\S+)\s+(\S+)\s+(\S+)$", text,
                    re.MULTILINE)
    assert hot is not None and float(hot.group(1)) > 0, text


@pytest.mark.slow
def test_bench_bulk_prints_both_references() -> None:
    """benchmarks/bench_bulk.py: for each direction, gentf's rate against bare gRPC and
    against bare gRPC into one array, each ratio the quotient of its rates."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "client"), str(ROOT / "server"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_bulk.py"), "--sizes-mib", "2",
         "--repeats", "1"],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert re.search(r"^\s+2 MiB a new array \(allocate, write\): best\s+[0-9.]+ MiB/s", text,
                     re.MULTILINE), text
    for way in ("up", "blob up", "down"):
        m = re.search(rf"^\s+2 MiB {way}\s*: gentf\s+([0-9.]+) MiB/s  bare gRPC\s+([0-9.]+) "
                      rf"MiB/s  ratio ([0-9.]+) .*\n\s+bare gRPC into one array\s+([0-9.]+) "
                      rf"MiB/s, ratio ([0-9.]+)", text, re.MULTILINE)
        assert m is not None, f"{way} missing from:\n{text}"
        gentf, bare, ratio, into_array, ratio_array = (float(v) for v in m.groups())
        assert gentf > 0 and bare > 0 and into_array > 0
        assert ratio == pytest.approx(gentf / bare, abs=0.011)
        assert ratio_array == pytest.approx(gentf / into_array, abs=0.011)


def test_bench_import_prints_gentf_against_the_limit() -> None:
    """benchmarks/bench_import.py: a finite import time for gentf, its ratio to the 0.5 s
    limit, and that it imported no ml_dtypes (installed here, with the worker)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_import.py"), "--runs", "1",
         "--modules", "gentf,numpy,no_such_module"],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    m = re.search(r"import gentf\s+([0-9.]+)\s+\[[0-9.]+, [0-9.]+\]  / limit 0.5 s: ([0-9.]+); "
                  r"ml_dtypes imported: (yes|no)", proc.stdout)
    assert m is not None, proc.stdout
    took, ratio = float(m.group(1)), float(m.group(2))
    assert took > 0 and ratio == pytest.approx(took / 0.5, abs=0.006)
    assert m.group(3) == "no"
    assert re.search(r"import numpy\s+[0-9.]+", proc.stdout)
    assert "import no_such_module" in proc.stdout and "(not installed)" in proc.stdout
