"""What an engine that schedules its own requests (vLLM) tells about itself, for /metrics.

vLLM hands its stat loggers the scheduler's state (running and waiting requests, KV-cache use,
prefix-cache lookups) and each step's token counts; `EngineStats` keeps the latest state and the
running totals, and `EngineStatsCollector` turns them into the worker's `babelq_engine_*` metrics
when Prometheus scrapes. Rates (tokens/s, the prefix-cache hit rate) are PromQL's `rate()` of the
totals, as with every other babelq counter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class EngineSnapshot:
    """The engine's state at its last step, and its totals since it started."""

    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    prefix_cache_queries: int = 0
    prefix_cache_hits: int = 0
    preemptions: int = 0


@dataclass
class EngineStats:
    """Updated from the engine's output thread, read by the scrape: one lock, one snapshot."""

    _snapshot: EngineSnapshot = field(default_factory=EngineSnapshot)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def state(self, running: int, waiting: int, kv_cache_usage: float, queries: int, hits: int) -> None:
        """The scheduler's state after a step, with the prefix-cache lookups of that step."""
        with self._lock:
            now = self._snapshot
            self._snapshot = replace(
                now,
                running=running,
                waiting=waiting,
                kv_cache_usage=kv_cache_usage,
                prefix_cache_queries=now.prefix_cache_queries + queries,
                prefix_cache_hits=now.prefix_cache_hits + hits,
            )

    def tokens(self, prompt: int, generated: int, preempted: int) -> None:
        """The tokens one step took in and produced, and the requests it preempted."""
        with self._lock:
            now = self._snapshot
            self._snapshot = replace(
                now,
                prompt_tokens=now.prompt_tokens + prompt,
                generation_tokens=now.generation_tokens + generated,
                preemptions=now.preemptions + preempted,
            )

    def snapshot(self) -> EngineSnapshot:
        with self._lock:
            return self._snapshot


class EngineStatsCollector(Collector):
    """`babelq_engine_*`: the engine's state when Prometheus scrapes."""

    def __init__(self, stats: EngineStats, engine: str) -> None:
        self._stats = stats
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        now = self._stats.snapshot()
        yield self._gauge(
            "babelq_engine_running_requests", "Requests the engine is running now.", now.running
        )
        yield self._gauge("babelq_engine_waiting_requests", "Requests waiting in the engine.", now.waiting)
        yield self._gauge(
            "babelq_engine_kv_cache_usage", "Share of the KV cache in use (0 to 1).", now.kv_cache_usage
        )
        counters = (
            (
                "babelq_engine_prompt_tokens",
                "Prompt tokens of the requests (prefix-cache hits included).",
                now.prompt_tokens,
            ),
            ("babelq_engine_generation_tokens", "Tokens generated.", now.generation_tokens),
            ("babelq_engine_prefix_cache_queries", "Prompt tokens looked up.", now.prefix_cache_queries),
            (
                "babelq_engine_prefix_cache_hits",
                "Prompt tokens found in the prefix cache.",
                now.prefix_cache_hits,
            ),
            ("babelq_engine_preemptions", "Requests preempted for lack of KV cache.", now.preemptions),
        )
        for name, documentation, value in counters:
            counter = CounterMetricFamily(name, documentation, labels=["engine"])
            counter.add_metric([self._engine], value)
            yield counter

    def _gauge(self, name: str, documentation: str, value: float) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(name, documentation, labels=["engine"])
        gauge.add_metric([self._engine], value)
        return gauge
