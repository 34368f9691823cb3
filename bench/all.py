"""Every benchmark behind the performance goals, run in turn, summed up in one table.

    python -m bench.all [--runs 3]

Each run starts the benchmarks below one after the other (each its own servers,
each with its own baseline measured in the same run) and reads the figures they
write to ``bench/results/``. The rate ratios are the benchmarks' own: the median of
rounds in which the measure and its baseline ran back to back. The table shows
every run's figure, the spread, the goal, and in how many runs it was met; it is
printed and written to ``bench/results/all.md``, and every run's raw figures to
``bench/results/all.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# the benchmark commands one run starts, and the result files each writes
COMMANDS: list[tuple[list[str], list[str]]] = [
    (["bench.updates"], ["updates"]),
    (["bench.reads", "--sizes", ""], ["reads"]),
    (["bench.boards", "--rounds", "8"], ["boards", "boards_reads"]),
    (["bench.persist"], ["persist"]),
    (["bench.ws"], ["ws"]),
]


@dataclass(frozen=True)
class Figure:
    name: str
    compute: Callable[[dict[str, Any]], float]
    goal: float | None  # None: shown for context, no goal of its own
    at_least: bool  # the goal is a floor (else a ceiling)
    unit: str = ""

    def met(self, value: float) -> bool:
        if self.goal is None:
            return False
        return value >= self.goal if self.at_least else value <= self.goal


def _rps(results: dict[str, Any], file: str, row: str) -> float:
    return float(results[file]["rows"][row]["rps"])


def _ratio(file: str, measure: str, baseline: str) -> Callable[[dict[str, Any]], float]:
    """The benchmark's own ratio of ``measure`` to ``baseline`` (the median of its
    interleaved rounds' ratios)."""
    return lambda r: float(r[file]["ratios"][f"{measure} / {baseline}"])


def _ws(results: dict[str, Any], hub: str, key: str) -> float:
    return float(results["ws"][hub][key])


FIGURES = [
    Figure("update / hello world", _ratio("updates", "update (batch)", "hello world"), 0.30,
           True),
    Figure("update / plain first cut", _ratio("updates", "update (batch)", "plain first cut"),
           2.0, True),
    Figure("update with a server key / with a token",
           _ratio("updates", "update with a key (batch)", "with a token"), 0.95, True),
    Figure("update with 200 B metadata / without",
           _ratio("updates", "update with 200 B metadata (batch)", "without"), 0.91, True),
    Figure("updates/s in batches of 100 / single",
           _ratio("updates", "updates/s in batches of 100 (batch)", "single"), 5.0, True),
    Figure("batch of 100 p99 / single update p99",
           _ratio("updates", "batch of 100 p99 (batch)", "single update p99"), 10.0, False),
    Figure("update feeding 3 boards / feeding 1",
           _ratio("boards", "update, 3 boards", "update, 1 board"), 0.8, True),
    Figure("update feeding 3 boards / hello world",
           _ratio("boards", "update, 3 boards", "hello world"), 0.30, True),
    Figure("GET top10 / hello world", _ratio("reads", "GET top10", "hello world"), 0.70, True),
    Figure("board top10 / seed top10", _ratio("boards_reads", "top10, board b1", "top10, seed"),
           0.9, True),
    Figure("board top10 / hello world", _ratio("boards_reads", "top10, board b1", "hello world"),
           0.70, True),
    Figure("ws p99, 10,000 sockets", lambda r: _ws(r, "scoreboard hub", "p99_ms"), 150, False,
           " ms"),
    Figure("ws p99 / plain hub p99", lambda r: _ws(r, "scoreboard hub", "p99_ms")
           / _ws(r, "plain hub", "p99_ms"), 1.5, False),
    Figure("ws memory per idle socket - plain hub's",
           lambda r: (_ws(r, "scoreboard hub", "bytes_per_socket")
                      - _ws(r, "plain hub", "bytes_per_socket")) / 1024, 2.0, False, " KiB"),
    Figure("Worker 1 / staged COPY + upsert", lambda r: _rps(r, "persist", "Worker 1 (persist)")
           / _rps(r, "persist", "staged COPY + upsert"), 0.6, True),
    Figure("(context) Worker 1 / the same staged SQL on the service's tables",
           lambda r: _rps(r, "persist", "Worker 1 (persist)")
           / _rps(r, "persist", "staged COPY + upsert, service's tables"), None, True),
    Figure("(context) plain hub p99, 10,000 sockets", lambda r: _ws(r, "plain hub", "p99_ms"),
           None, False, " ms"),
    Figure("(context) hello world, thousand req/s (bench.reads)",
           lambda r: _rps(r, "reads", "hello world") / 1000, None, True),
    Figure("(context) the same staged SQL on the service's tables / on bare tables",
           lambda r: _rps(r, "persist", "staged COPY + upsert, service's tables")
           / _rps(r, "persist", "staged COPY + upsert"), None, True),
]


def one_run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for args, files in COMMANDS:
        started = time.time()
        print(f"-- python -m {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, "-m", *args], check=True)
        for name in files:
            path = RESULTS / f"{name}.json"
            if path.stat().st_mtime < started:
                raise SystemExit(f"{args[0]} did not write {path}")
            results[name] = json.loads(path.read_text())
    return results


def _shown(fig: Figure, value: float) -> str:
    """Two decimals, or three where two would round a miss onto its goal (0.298 is
    not 0.30)."""
    two = f"{value:.2f}"
    return two if fig.met(float(two)) == fig.met(value) else f"{value:.3f}"


def table(runs: list[dict[str, Any]]) -> str:
    lines = ["| measure | " + " | ".join(f"run {i + 1}" for i in range(len(runs)))
             + " | spread | goal | met |",
             "|---|" + "---|" * len(runs) + "---|---|---|"]
    for fig in FIGURES:
        values = [fig.compute(r) for r in runs]
        shown = [f"{_shown(fig, v)}{fig.unit}" for v in values]
        goal, met = "-", "-"
        if fig.goal is not None:
            goal = f"{'>=' if fig.at_least else '<='} {fig.goal:g}{fig.unit}"
            met = f"{sum(fig.met(v) for v in values)} of {len(runs)}"
        lines.append(f"| {fig.name} | " + " | ".join(shown)
                     + f" | {min(values):.2f}-{max(values):.2f} | {goal} | {met} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    out = table(runs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "all.md").write_text(out + "\n")
    # every run's figures as the benchmarks wrote them (the next run overwrites theirs)
    (RESULTS / "all.json").write_text(json.dumps(runs, indent=1) + "\n")
    print("\n== all benchmarks, as shipped ==")
    print(out)


if __name__ == "__main__":
    main()
