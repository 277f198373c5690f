"""A worker process's Prometheus metrics, served on a port of its own.

Counters and histograms are updated as answers are stored and batches finish; the worker's state
(up, jobs held, breaker, GPU) is read when Prometheus scrapes. Labels stay bounded: queue,
language, status, worker, gpu; never a job or conversation id. The scrape adds `instance`, so a
histogram carries no worker label of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.jobs import ChatAnswer, ChatJob

log = logging.getLogger(__name__)
# Resolve 50 ms to 60 s (and what lies beyond): the latency alert's 200 ms line falls on a bucket.
SECONDS_BUCKETS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
BATCH_TOKEN_BUCKETS = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
BREAKER_STATES = ("closed", "open", "half-open")


class WorkerMetrics:
    """What a worker counts as it works."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.finished = Counter(
            "babelq_jobs_finished_total",
            "Jobs whose outcome this worker stored, by status.",
            ["queue", "language", "status"],
            registry=registry,
        )
        self.retried = Counter(
            "babelq_jobs_retried_total",
            "Jobs this worker sent back for another try after a model failure.",
            ["queue"],
            registry=registry,
        )
        self.latency = _seconds("babelq_job_latency_seconds", "From accepted to answered.", registry)
        self.queue_wait = _seconds(
            "babelq_queue_wait_seconds", "From accepted to started on a worker.", registry
        )
        self.batch_wait = _seconds(
            "babelq_batch_wait_seconds", "From started to its batch running.", registry
        )
        self.inference = _seconds("babelq_inference_seconds", "The batch's generation time.", registry)
        self.batch_size = Histogram(
            "babelq_batch_size", "Prompts in each batch run.", buckets=BATCH_SIZE_BUCKETS, registry=registry
        )
        self.batch_seconds = Histogram(
            "babelq_batch_seconds", "Wall time of each batch run.", buckets=SECONDS_BUCKETS, registry=registry
        )
        self.batch_tokens = Histogram(
            "babelq_batch_tokens",
            "Padded tokens of each batch run (size x longest prompt + new tokens).",
            buckets=BATCH_TOKEN_BUCKETS,
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "babelq_prompt_tokens_total", "Prompt tokens of answered jobs.", ["queue"], registry=registry
        )
        self.generated_tokens = Counter(
            "babelq_generated_tokens_total",
            "Tokens generated for answered jobs.",
            ["queue"],
            registry=registry,
        )
        self._by_queue: dict[str, _QueueChildren] = {}

    def answered(self, job: ChatJob, answer: ChatAnswer) -> None:
        """An outcome stored for `job` (done, failed or expired)."""
        per_queue = self._children(job.queue)
        per_queue.finished(job.language, answer.status.value).inc()
        timings = answer.timings
        spans = (timings.total_ms, timings.queued_ms, timings.batch_wait_ms, timings.infer_ms)
        for histogram, ms in zip(per_queue.seconds, spans, strict=True):
            if ms is not None:
                histogram.observe(ms / 1000.0)
        if answer.prompt_tokens:
            per_queue.prompt_tokens.inc(answer.prompt_tokens)
        if answer.completion_tokens:
            per_queue.generated_tokens.inc(answer.completion_tokens)

    def _children(self, queue: str) -> _QueueChildren:
        """The queue's labelled series, looked up once: `labels()` takes a lock and builds a key
        on every call, and this runs for every job."""
        children = self._by_queue.get(queue)
        if children is None:
            children = self._by_queue[queue] = _QueueChildren(self, queue)
        return children

    def batch_done(self, size: int, seconds: float, tokens: int = 0) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)
        if tokens:  # 0: the vllm engine, which has no batch to count
            self.batch_tokens.observe(tokens)


class _QueueChildren:
    """One queue's children of the per-queue series (the status counter also keyed by language)."""

    def __init__(self, metrics: WorkerMetrics, queue: str) -> None:
        self._finished = metrics.finished
        self._queue = queue
        self._finished_children: dict[tuple[str, str], Any] = {}
        self.seconds = tuple(
            histogram.labels(queue)
            for histogram in (metrics.latency, metrics.queue_wait, metrics.batch_wait, metrics.inference)
        )
        self.prompt_tokens = metrics.prompt_tokens.labels(queue)
        self.generated_tokens = metrics.generated_tokens.labels(queue)

    def finished(self, language: str, status: str) -> Any:
        key = (language, status)
        child = self._finished_children.get(key)
        if child is None:
            child = self._finished_children[key] = self._finished.labels(self._queue, language, status)
        return child


def _seconds(name: str, documentation: str, registry: CollectorRegistry) -> Histogram:
    return Histogram(name, documentation, ["queue"], buckets=SECONDS_BUCKETS, registry=registry)


class WorkerState(Collector):
    """The worker's state, read at each scrape: up, jobs held, breaker, and its GPU through NVML
    (no GPU series on a CPU worker)."""

    def __init__(
        self,
        worker: str,
        in_flight: Callable[[], int],
        breaker_state: Callable[[], str],
        gpu: Callable[[], dict[str, float] | None] | None,
        gpu_label: str = "0",
    ) -> None:
        self._worker = worker
        self._in_flight = in_flight
        self._breaker_state = breaker_state
        self._gpu = gpu
        self._gpu_label = gpu_label

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield _gauge("babelq_worker_up", "1 while the worker process runs.", self._worker, 1)
        yield _gauge(
            "babelq_jobs_in_flight",
            "Jobs the worker holds (received, not settled).",
            self._worker,
            self._in_flight(),
        )
        state = self._breaker_state()
        breaker = GaugeMetricFamily(
            "babelq_breaker_state", "1 for the breaker's current state.", labels=["worker", "state"]
        )
        for name in BREAKER_STATES:
            breaker.add_metric([self._worker, name], 1.0 if name == state else 0.0)
        yield breaker
        yield from self._gpu_families()

    def _gpu_families(self) -> Iterator[GaugeMetricFamily]:
        readings = self._gpu() if self._gpu is not None else None
        if not readings:
            return
        mib = 1024.0 * 1024.0
        used, total = readings["gpu_memory_used_mib"] * mib, readings["gpu_memory_total_mib"] * mib
        for name, help_text, value in (
            ("babelq_gpu_utilization_ratio", "GPU busy share (NVML).", readings["gpu_util_pct"] / 100.0),
            ("babelq_gpu_memory_used_bytes", "GPU memory in use (NVML).", used),
            ("babelq_gpu_memory_total_bytes", "GPU memory (NVML).", total),
        ):
            family = GaugeMetricFamily(name, help_text, labels=["worker", "gpu"])
            family.add_metric([self._worker, self._gpu_label], value)
            yield family


def _gauge(name: str, documentation: str, worker: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["worker"])
    family.add_metric([worker], float(value))
    return family


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> Any | None:
    """Serve /metrics on `host`:`port` (port 0: not at all); a port in use is logged, not fatal:
    the worker answers jobs without metrics rather than not at all."""
    if port <= 0:
        return None
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("metrics not served: %s:%d: %s (set BABELQ_WORKER_METRICS_PORT)", host, port, exc)
        return None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
