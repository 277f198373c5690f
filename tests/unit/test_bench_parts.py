"""The pure parts of `babelq bench`: arrivals, statistics, options."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ConfigurationError, InvalidInput
from ops.bench.arrivals import poisson_schedule
from ops.bench.benchmark import BenchOptions
from ops.bench.dataset import load_texts
from ops.bench.stats import JobSample, percentile, summarize


def test_poisson_schedule_has_the_asked_rate_and_is_reproducible():
    times = poisson_schedule(rate=200, duration_s=10, seed=7)
    assert 1800 < len(times) < 2200
    assert times == sorted(times) and times[0] > 0 and times[-1] < 10
    assert times == poisson_schedule(rate=200, duration_s=10, seed=7)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) > 5 * (1 / 200)  # bursty, as open-loop Poisson arrivals are


def test_percentile_interpolates():
    assert percentile([], 50) is None
    assert percentile([10.0], 99) == 10.0
    assert percentile([0.0, 10.0], 50) == 5.0
    assert percentile(list(map(float, range(101))), 99) == 99.0


def sample(sent_s: float, done_s: float | None, status: str = "done", size: int = 4) -> JobSample:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    finished = t0 + timedelta(seconds=done_s) if done_s is not None else None
    return JobSample(
        t0 + timedelta(seconds=sent_s),
        t0 + timedelta(seconds=sent_s),
        finished,
        status,
        queued_ms=5.0,
        infer_ms=100.0,
        batch_size=size,
    )


def test_summary_counts_throughput_latency_batches_and_busy_time():
    samples = [sample(i * 0.1, i * 0.1 + 0.2) for i in range(10)] + [sample(0.5, None, status="failed")]
    summary = summarize(samples, offered_rate=10)
    assert summary["completed"] == 10 and summary["failed"] == 1
    assert summary["throughput_jobs_s"] == pytest.approx(10 / 1.1)
    assert summary["latency_ms"]["p50"] == pytest.approx(200.0)
    assert summary["batch_size"] == {"mean": 4.0, "histogram": {"4": 10}}
    # 10 jobs in batches of 4, 100 ms each: 250 ms of model time over 1.1 s
    assert summary["model_busy_fraction"] == pytest.approx(0.25 / 1.1)


def test_bench_options_need_exactly_one_of_rate_or_sweep():
    with pytest.raises(ConfigurationError, match="exactly one"):
        BenchOptions()
    with pytest.raises(ConfigurationError, match="exactly one"):
        BenchOptions(rate=5, sweep=True)
    with pytest.raises(ConfigurationError, match="--rate must be > 0"):
        BenchOptions(rate=-1)
    assert BenchOptions(sweep=True).direct_jobs == 64
    with pytest.raises(ConfigurationError, match="--path http"):
        BenchOptions(rate=5, path="publish", waiters=500)


def test_a_waiting_send_reports_how_long_after_its_answer_was_stored_it_heard_it():
    base = sample(0.0, 0.2)
    heard = [replace(base, heard_at=base.finished_at + timedelta(milliseconds=ms)) for ms in (5, 10, 80)]
    delays = summarize(heard, offered_rate=1)["heard_after_stored_ms"]
    assert delays["max"] == pytest.approx(80) and delays["p50"] == pytest.approx(10)
    assert summarize([base], offered_rate=1)["heard_after_stored_ms"] is None  # sends that did not wait


def test_shipped_dataset_is_multilingual_and_a_bad_file_is_refused(tmp_path):
    texts = load_texts(None)
    assert len(texts) >= 30 and any("订单" in t for t in texts) and any("pedido" in t for t in texts)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "oops"}\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 2"):
        load_texts(bad)


def test_the_resource_sampler_sees_a_process_burn_cpu_and_grow():
    import os
    import time

    from ops.bench.resources import ResourceSampler

    held: list[bytes] = []
    with ResourceSampler({"me": os.getpid()}, interval_s=0.02) as sampler:
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            held.append(b"x" * 1_000_000)  # about 25 MiB over the run, never freed in it
            sum(range(20_000))
    usage = sampler.report()["me"]
    assert usage["cpu_cores"] is not None and usage["cpu_cores"] > 0.3
    assert usage["rss_growth"] is not None and usage["rss_growth"] > 0.02
    assert usage["rss_mib_max"] >= usage["rss_mib_end"] > 0
    assert len(held) > 10
