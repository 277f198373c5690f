"""The producer side's Prometheus metrics (the API process serves them on /metrics, with the
queue depths: see producers.stack)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from core.jobs import ChatJob
from persistence.answer_cache import CacheStats


class ProducerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter(
            "babelq_jobs_accepted_total",
            "Jobs stored and published (or answered from the cache).",
            ["queue", "language"],
            registry=registry,
        )
        self.cached = Counter(
            "babelq_jobs_cached_total",
            "Jobs answered from the answer cache at once.",
            ["language"],
            registry=registry,
        )

    def submitted(self, job: ChatJob, cached: bool) -> None:
        self.accepted.labels(job.queue, job.language).inc()
        if cached:
            self.cached.labels(job.language).inc()


class CacheCollector(Collector):
    """The answer cache's hit and miss counters, read at each scrape. A Redis cache counts for the
    whole fleet: several API processes each report the same totals (take max, not sum)."""

    def __init__(self, stats: Callable[[], CacheStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        try:
            stats = self._stats()
        except Exception:  # a cache that is down reports nothing this scrape
            return
        labels = ["backend"]
        for name, value in (("babelq_cache_hits", stats.hits), ("babelq_cache_misses", stats.misses)):
            family = CounterMetricFamily(name, f"Answer-cache {name.rsplit('_', 1)[1]}.", labels=labels)
            family.add_metric([stats.backend], float(value))
            yield family
        entries = GaugeMetricFamily("babelq_cache_entries", "Answers in the cache.", labels=labels)
        entries.add_metric([stats.backend], float(stats.entries))
        yield entries
