"""`babelq bench`: drive the real path (API or publisher → broker → worker → store) with open-loop
Poisson arrivals, next to the direct baseline, and report how much of the model the queue delivers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.errors import ConfigurationError
from core.settings import Settings
from ops.bench.arrivals import poisson_schedule
from ops.bench.dataset import load_texts
from ops.bench.direct import direct_best_for, direct_jobs_per_s
from ops.bench.direct_best import DEFAULT_BATCH_SIZES, DirectBest
from ops.bench.fleet import fleet
from ops.bench.load import LoadResult, Sent, drive, http_sender, publish_sender
from ops.bench.report import write_json, write_plot
from ops.bench.resources import ResourceSampler
from ops.bench.stats import JobSample, summarize
from ops.bench.waiters import park_jobs, release_jobs, waiting_callers
from persistence.migrate import upgrade
from persistence.views import count_final, job_timings
from producers.stack import Stack, build_stack
from routing.table import Profile, load_table

Path_ = Literal["http", "publish"]
SWEEP_FRACTIONS = (0.25, 0.5, 0.75, 1.0, 1.25)
ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class BenchOptions:
    """What to measure; checked when built."""

    path: Path_ = "http"
    runner: Literal["default", "null"] = "default"
    rate: float | None = None
    sweep: bool = False
    duration_s: float = 20.0
    dataset: Path | None = None
    out: Path = Path("bench-out")
    external: bool = False
    max_rate: float = 2000.0
    drain_s: float = 180.0
    seed: int = 0
    direct_batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    waiters: int = 0

    def __post_init__(self) -> None:
        if (self.rate is None) == (not self.sweep):
            raise ConfigurationError("give exactly one of --rate R or --sweep")
        if self.rate is not None and self.rate <= 0:
            raise ConfigurationError("--rate must be > 0")
        if self.duration_s <= 0:
            raise ConfigurationError("--duration must be > 0")
        if not self.direct_batch_sizes or min(self.direct_batch_sizes) < 1:
            raise ConfigurationError("--direct-batch-sizes must be batch sizes >= 1, like 8,16,32,64")
        if self.waiters < 0 or (self.waiters and self.path != "http"):
            raise ConfigurationError("--waiters N (N >= 0) waits through the API: use it with --path http")

    @property
    def direct_jobs(self) -> int:
        return 5000 if self.runner == "null" else 64


def run_bench(settings: Settings, options: BenchOptions, progress: ProgressFactory) -> dict[str, Any]:
    """Measure, write DIR/bench.json and DIR/bench.png, and return the result."""
    if options.path == "publish" and settings.embedded:
        raise ConfigurationError(
            "--path publish needs a shared broker: set BABELQ_BROKER_URL (redis or amqp)"
        )
    settings = settings.model_copy(update={"runner": "null" if options.runner == "null" else "transformers"})
    options.out.mkdir(parents=True, exist_ok=True)
    table = load_table(settings.routes_file)
    profile = table.profile_for_queue(table.fallback_queue)
    texts = load_texts(options.dataset)
    baselines = _baselines(settings, options, profile, texts)
    upgrade(settings.store_url)
    stack = build_stack(settings)
    spawn: AbstractContextManager[dict[str, int]] = (
        nullcontext({})
        if options.external
        else fleet(settings, settings.runner, options.path == "http", options.out)
    )
    parked = park_jobs(stack.factory, table.fallback_queue, options.waiters) if options.waiters else []
    try:
        with spawn as pids:
            rates = _rates(options, baselines.capacity)
            runs = [
                _run_once(stack, options, rate, texts=texts, progress=progress, pids=pids, parked=parked)
                for rate in rates
            ]
    finally:
        release_jobs(stack.factory, parked)
    stack.close()
    result = _assemble(settings, options, profile, baselines, runs)
    write_json(result, options.out)
    write_plot(runs, baselines.lines, options.out)
    return result


@dataclass(frozen=True)
class Baselines:
    """The direct baselines: the profile's own engine, and the model's limit (none for a null runner)."""

    same_engine: float
    best: DirectBest | None

    @property
    def capacity(self) -> float:
        """What the path is judged against: the model's limit when there is a model."""
        return self.best.jobs_s if self.best else self.same_engine

    @property
    def lines(self) -> dict[str, float | None]:
        best = self.best.jobs_s if self.best else None
        return {"direct, same engine": self.same_engine, "direct_best": best}


def _baselines(settings: Settings, options: BenchOptions, profile: Profile, texts: list[str]) -> Baselines:
    same_engine = direct_jobs_per_s(settings, profile, texts, options.direct_jobs)
    if options.runner == "null":
        return Baselines(same_engine, None)
    best = direct_best_for(settings, profile, texts, options.direct_batch_sizes, options.direct_jobs)
    return Baselines(same_engine, best)


def _rates(options: BenchOptions, capacity: float) -> list[float]:
    if options.rate is not None:
        return [options.rate]
    return [round(min(capacity, options.max_rate) * f, 2) for f in SWEEP_FRACTIONS]


def _run_once(
    stack: Stack,
    options: BenchOptions,
    rate: float,
    *,
    texts: list[str],
    progress: ProgressFactory,
    pids: dict[str, int],
    parked: list[str],
) -> dict[str, Any]:
    schedule = poisson_schedule(rate, options.duration_s, seed=options.seed)
    advance = progress(f"{rate:g} jobs/s", len(schedule))
    callers = waiting_callers(_api_url(stack), parked, _wait_s(stack)) if parked else nullcontext(None)
    with ResourceSampler({"bench": os.getpid(), **pids}) as resources, callers as waiters:
        load = _drive(stack, options, texts, schedule, advance)
        ids = [s.job_id for s in load.sent]
        _drain(stack, ids, options.drain_s)
    summary = summarize(_samples(stack, load.sent), rate)
    if waiters is not None:
        summary["waiters"] = {"count": len(parked), "requests": waiters.requests, "errors": waiters.errors}
    summary["processes"] = _per_job(resources.report(), summary["throughput_jobs_s"])
    summary["send_errors"] = len(load.errors)
    summary["first_send_error"] = load.errors[0] if load.errors else None
    return summary


def _drive(
    stack: Stack,
    options: BenchOptions,
    texts: list[str],
    schedule: list[float],
    advance: Callable[[int], None],
) -> LoadResult:
    if options.path == "publish":
        return drive(publish_sender(stack.intake), texts, schedule, advance)
    if options.waiters:  # the load waits for its answers too: how soon does a caller hear one?
        return drive(http_sender(_api_url(stack), _wait_s(stack)), texts, schedule, advance, threads=128)
    return drive(http_sender(_api_url(stack)), texts, schedule, advance)


def _api_url(stack: Stack) -> str:
    return f"http://{stack.settings.api_host}:{stack.settings.api_port}"


def _wait_s(stack: Stack) -> float:
    return min(30.0, stack.settings.max_wait_s)


def _drain(stack: Stack, ids: list[str], timeout_s: float) -> None:
    """Wait until every sent job is final (or the drain time is over)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and count_final(stack.factory, ids) < len(ids):
        time.sleep(0.25)


def _per_job(processes: dict[str, dict[str, Any]], jobs_s: float) -> dict[str, dict[str, Any]]:
    """Each process's resources, with its CPU per job (ms) at the run's throughput."""
    for usage in processes.values():
        cores = usage["cpu_cores"]
        usage["cpu_ms_per_job"] = cores * 1000 / jobs_s if cores is not None and jobs_s else None
    return processes


def _samples(stack: Stack, sent: list[Sent]) -> list[JobSample]:
    sent_at = {s.job_id: s.sent_at for s in sent}
    rows = job_timings(stack.factory, list(sent_at))
    heard_at = {s.job_id: s.heard_at for s in sent}
    return [
        JobSample(
            sent_at[r.job_id],
            r.created_at,
            r.finished_at,
            r.status,
            r.queued_ms,
            r.infer_ms,
            r.batch_size,
            heard_at[r.job_id],
        )
        for r in rows
    ]


def _assemble(
    settings: Settings,
    options: BenchOptions,
    profile: Profile,
    baselines: Baselines,
    runs: list[dict[str, Any]],
) -> dict[str, Any]:
    saturated = max(runs, key=lambda r: r["throughput_jobs_s"])
    best = baselines.best
    result: dict[str, Any] = {**saturated, "direct_jobs_s": baselines.same_engine}
    result["direct_best"] = best.to_json() if best else None
    result["direct_best_jobs_s"] = best.jobs_s if best else None
    result["efficiency"] = _ratio(saturated["throughput_jobs_s"], baselines.capacity)
    result["efficiency_same_engine"] = _ratio(saturated["throughput_jobs_s"], baselines.same_engine)
    result["latency_target_at_half_load"] = _half_load_check(runs, baselines.capacity, profile)
    result["config"] = _config(settings, options, profile)
    result["runs"] = runs
    return result


def _ratio(value: float, base: float) -> float | None:
    return value / base if base else None


def _half_load_check(runs: list[dict[str, Any]], capacity: float, profile: Profile) -> dict[str, Any] | None:
    """P99 at ~50% of capacity against 1.5 × (one full batch's service time + max wait)."""
    half = min(runs, key=lambda r: abs(r["offered_rate"] - capacity / 2))
    if abs(half["offered_rate"] - capacity / 2) > 0.1 * capacity:
        return None
    batch_ms = profile.max_batch_size / capacity * 1000.0
    target = 1.5 * (batch_ms + profile.max_wait_ms)
    p99 = half["latency_ms"]["p99"]
    return {
        "offered_rate": half["offered_rate"],
        "p99_ms": p99,
        "target_ms": target,
        "met": p99 is not None and p99 <= target,
    }


def _config(settings: Settings, options: BenchOptions, profile: Profile) -> dict[str, Any]:
    return {
        "path": options.path,
        "runner": options.runner,
        "broker": settings.broker_url.split("://")[0],
        "store": settings.store_url.split(":")[0],
        "duration_s": options.duration_s,
        "max_batch_size": profile.max_batch_size,
        "max_wait_ms": profile.max_wait_ms,
        "max_new_tokens": min(profile.max_new_tokens, settings.max_new_tokens),
        "model": settings.model or profile.model or "default",
        "cpus": os.cpu_count(),
    }
