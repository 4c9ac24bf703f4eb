"""Issue 9's goals as verdicts with their spread, from one ``bench_step.py`` run.

The tables of ``bench_step.py`` give each figure as a ratio of medians over the rounds. On a
shared 2-core VM two runs of identical code differ by up to 10%, so a figure near its limit
says little on its own. Every contender runs once in every round, one after another, so a
round's contenders share the machine's state of that minute: the ratio within each round
(paired) is less noisy than the ratio of the medians, and how many rounds meet a limit says
how firmly a goal is met. This module works both on a fresh run and on a saved
``--json`` file:

    python benchmarks/_bench_goals.py benchmarks/results/bench_step_run_am.json
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import dataclass
from typing import Any

DIRECT = "gentf_direct"
"""The contenders the goals are judged on: calls on the session process's direct door."""


@dataclass(frozen=True)
class Goal:
    """One figure: the sum of ``num`` over the sum of ``den`` per round (microseconds, or
    for a rate the inverse: steps/s ratios are ``den / num`` of the per-step times), against
    ``limit`` (at most, or at least when ``at_least``). ``num`` is one contender's name or a
    tuple of them (a floor made of parts)."""

    label: str
    num: str | tuple[str, ...]
    den: tuple[str, ...]
    limit: float
    at_least: bool = False
    rate: bool = False


GOALS = (
    Goal("1. step / floor (echo + fused)", f"{DIRECT}.step_1rt",
         ("echo.step_1call", "tf.step_fused"), 1.25),
    Goal("1. step / TF remote session", f"{DIRECT}.step_1rt", ("tfremote.step",), 1.0),
    Goal("1. 5 ms proxy, steps/s / echo's", "proxy.gentf_direct_step_1rt",
         ("proxy.echo_step_1call",), 0.92, at_least=True, rate=True),
    Goal("   (TF remote session on the proxy)", "proxy.tfremote_step",
         ("proxy.echo_step_1call",), 0.92, at_least=True, rate=True),
    Goal("   (floor on the proxy: echo + fused)", ("proxy.echo_step_1call", "tf.step_fused"),
         ("proxy.echo_step_1call",), 0.92, at_least=True, rate=True),
    Goal("   (the same with XLA's fused step)", ("proxy.echo_step_1call", "tf.step_fused_xla"),
         ("proxy.echo_step_1call",), 0.92, at_least=True, rate=True),
    Goal("2. three round trips / floor", f"{DIRECT}.step_3rt",
         ("echo.step_3call", "tf.step_3call"), 1.15),
    Goal("2. forward / floor", f"{DIRECT}.forward", ("echo.forward", "tf.forward"), 1.15),
    Goal("3. Map model / bare step", f"{DIRECT}.step_1rt", (f"{DIRECT}.bare_1rt",), 1.15),
    Goal("3. loop model / bare step", f"{DIRECT}.loop_1rt", (f"{DIRECT}.bare_1rt",), 2.0),
)


def _ratio(num: float, den: float, rate: bool) -> float:
    if not (num > 0 and den > 0):
        return math.nan
    return den / num if rate else num / den


def verdict(goal: Goal, samples: dict[str, list[float]]) -> dict[str, Any] | None:
    """The goal's figures from per-round samples (None when a contender is missing): the
    ratio of medians, the median, lowest and highest of the per-round ratios, and in how
    many rounds the ratio meets the limit."""
    nums = (goal.num,) if isinstance(goal.num, str) else goal.num
    parts = [*(samples.get(n) for n in nums), *(samples.get(d) for d in goal.den)]
    if any(not p for p in parts):
        return None
    rounds = min(len(p) for p in parts)  # type: ignore[arg-type]
    num = [sum(samples[n][r] for n in nums) for r in range(rounds)]
    den = [sum(samples[d][r] for d in goal.den) for r in range(rounds)]
    per_round = [_ratio(n, d, goal.rate) for n, d in zip(num, den)]
    of_medians = _ratio(sum(statistics.median(samples[n]) for n in nums),
                        sum(statistics.median(samples[d]) for d in goal.den), goal.rate)
    met = sum(1 for r in per_round if (r >= goal.limit if goal.at_least else r <= goal.limit))
    return {"goal": goal.label, "limit": goal.limit, "at_least": goal.at_least,
            "ratio_of_medians": of_medians, "paired_median": statistics.median(per_round),
            "paired_min": min(per_round), "paired_max": max(per_round),
            "rounds_met": met, "rounds": rounds}


def bulk_verdicts(samples: dict[str, list[float]], sizes: list[int]) -> list[dict[str, Any]]:
    """Goal 4's bulk figures (front door and direct door against bare gRPC, at least 0.8x
    its MiB/s), paired by round like :func:`verdict`."""
    out = []
    for mib in sizes:
        for door, label in (("gentf", "front door"), ("gentf_direct", "direct door")):
            for d in ("up", "down"):
                goal = Goal(f"4. {label} {d} {mib} MiB / bare gRPC", f"bulk.{door}_{d}_{mib}",
                            (f"bulk.grpc_{d}_{mib}",), 0.8, at_least=True, rate=True)
                v = verdict(goal, samples)
                if v is not None:
                    out.append(v)
    return out


def model_verdicts(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every model's goal verdicts from ``bench_step.py``'s results (``--json``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for model, info in results.get("models", {}).items():
        samples = info.get("samples_us", {})
        out[model] = [v for g in GOALS if (v := verdict(g, samples)) is not None]
    bulk = results.get("bulk_samples_us")
    if bulk:
        sizes = sorted({int(k.rsplit("_", 1)[1]) for k in bulk})
        out["bulk"] = bulk_verdicts(bulk, sizes)
    return out


def print_verdicts(verdicts: dict[str, list[dict[str, Any]]]) -> None:
    """The verdicts as one table per model."""
    for model, rows in verdicts.items():
        if not rows:
            continue
        print(f"\ngoals, {model}: ratio of medians; per-round (paired) ratio: median "
              f"[lowest, highest]; rounds meeting the limit")
        for v in rows:
            sign = ">=" if v["at_least"] else "<="
            print(f"  {v['goal']:40s} {sign} {v['limit']:<5g} {v['ratio_of_medians']:6.2f}   "
                  f"{v['paired_median']:5.2f} [{v['paired_min']:.2f}, {v['paired_max']:.2f}]  "
                  f"{v['rounds_met']}/{v['rounds']}")


def main(argv: list[str] | None = None) -> None:
    """Prints the verdicts of each saved run named on the command line."""
    for path in (sys.argv[1:] if argv is None else argv):
        with open(path) as f:
            results = json.load(f)
        print(f"== {path}")
        print_verdicts(model_verdicts(results))


if __name__ == "__main__":
    main()
