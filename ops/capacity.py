"""A worker's measured capacity, read from `babelq bench` results (bench.json): the highest
throughput among its runs whose P99 latency met a target. A bench runs one worker, so this is
jobs a second per worker on the machine it ran on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput


@dataclass(frozen=True)
class Run:
    offered_rate: float
    throughput_jobs_s: float
    p99_ms: float


def bench_runs(path: Path) -> list[Run]:
    """The runs of a bench.json (a sweep has several; a single rate one)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        runs = data.get("runs") or [data]
        return [
            Run(float(r["offered_rate"]), float(r["throughput_jobs_s"]), float(r["latency_ms"]["p99"]))
            for r in runs
            if r.get("latency_ms") and r["latency_ms"].get("p99") is not None
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"{path}: not a babelq bench.json ({exc})") from exc


def capacity_jobs_s(runs: list[Run], p99_target_ms: float) -> float:
    """The most jobs a second one worker answered with its P99 within the target."""
    within = [run.throughput_jobs_s for run in runs if run.p99_ms <= p99_target_ms]
    if not within:
        best = min((run.p99_ms for run in runs), default=float("nan"))
        raise InvalidInput(f"no bench run met a P99 of {p99_target_ms:g} ms (the best had {best:.0f} ms)")
    return max(within)
