"""Benchmark statistics from the store's job timings: pure functions, no I/O."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class JobSample:
    """One job as the benchmark saw it: when it was sent (client clock = wall clock) and its facts."""

    sent_at: datetime
    created_at: datetime
    finished_at: datetime | None
    status: str
    queued_ms: float | None
    infer_ms: float | None
    batch_size: int | None
    heard_at: datetime | None = None  # when a waiting send heard its answer


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples: Sequence[JobSample], offered_rate: float) -> dict[str, Any]:
    """Throughput, latency and queue-wait percentiles, batch sizes and model busy fraction."""
    done = [s for s in samples if s.status == "done" and s.finished_at is not None]
    latencies = [_ms(s.finished_at, s.sent_at) for s in done]  # type: ignore[arg-type]
    waits = [s.queued_ms for s in done if s.queued_ms is not None]
    sizes = [s.batch_size for s in done if s.batch_size]
    span = _span_s(samples, done)
    busy = sum((s.infer_ms or 0.0) / (s.batch_size or 1) for s in done) / 1000.0
    return {
        "offered_rate": offered_rate,
        "jobs": len(samples),
        "completed": len(done),
        "failed": sum(1 for s in samples if s.status in ("failed", "expired")),
        "throughput_jobs_s": len(done) / span if span > 0 else 0.0,
        "latency_ms": {f"p{q}": percentile(latencies, q) for q in (50, 90, 99)},
        "queue_wait_ms": {f"p{q}": percentile(waits, q) for q in (50, 99)},
        "batch_size": {
            "mean": sum(sizes) / len(sizes) if sizes else None,
            "histogram": {str(k): v for k, v in sorted(Counter(sizes).items())},
        },
        "model_busy_fraction": min(1.0, busy / span) if span > 0 else 0.0,
        "heard_after_stored_ms": _heard_after_stored(done),
    }


def _heard_after_stored(done: Sequence[JobSample]) -> dict[str, float | None] | None:
    """For sends that waited for their answers: from the answer stored to the caller hearing it."""
    delays = [_ms(s.heard_at, s.finished_at) for s in done if s.heard_at and s.finished_at]
    if not delays:
        return None
    return {"p50": percentile(delays, 50), "p99": percentile(delays, 99), "max": max(delays)}


def _span_s(samples: Sequence[JobSample], done: Sequence[JobSample]) -> float:
    if not samples or not done:
        return 0.0
    first = min(s.sent_at for s in samples)
    last = max(s.finished_at for s in done if s.finished_at is not None)
    return (last - first).total_seconds()


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000.0
