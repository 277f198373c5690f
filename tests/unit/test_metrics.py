"""What the workers and the API export to Prometheus: names, bounded labels, values."""

from __future__ import annotations

import socket

from prometheus_client import CollectorRegistry, generate_latest

from core.jobs import ChatAnswer, ChatJob, JobStatus, Timings, new_id
from persistence.answer_cache import CacheStats
from producers.metrics import CacheCollector, ProducerMetrics
from workers.metrics import WorkerMetrics, WorkerState, serve_metrics


def _job() -> ChatJob:
    return ChatJob(job_id=new_id(), conversation_id=new_id(), text="hi", language="es", queue="chat.es")


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_an_answer_counts_once_with_its_timings_in_seconds_and_no_job_id_label():
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    job = _job()
    answer = ChatAnswer(
        job_id=job.job_id,
        language="es",
        status=JobStatus.DONE,
        prompt_tokens=30,
        completion_tokens=12,
        timings=Timings(queued_ms=40, batch_wait_ms=5, infer_ms=150, total_ms=195),
    )
    metrics.answered(job, answer)
    metrics.batch_done(24, 0.8, 24 * 300)
    assert _value(registry, "babelq_jobs_finished_total", queue="chat.es", language="es", status="done") == 1
    assert _value(registry, "babelq_job_latency_seconds_sum", queue="chat.es") == 0.195
    assert _value(registry, "babelq_job_latency_seconds_bucket", queue="chat.es", le="0.2") == 1
    assert _value(registry, "babelq_job_latency_seconds_bucket", queue="chat.es", le="0.1") == 0
    assert _value(registry, "babelq_queue_wait_seconds_count", queue="chat.es") == 1
    assert _value(registry, "babelq_generated_tokens_total", queue="chat.es") == 12
    assert _value(registry, "babelq_batch_size_bucket", le="32.0") == 1
    assert _value(registry, "babelq_batch_tokens_bucket", le="8192.0") == 1
    assert job.job_id not in generate_latest(registry).decode()


def test_the_worker_state_is_read_at_each_scrape_and_gpu_series_only_with_a_gpu():
    held = [3]
    registry = CollectorRegistry()
    registry.register(WorkerState("cpu-1@h", lambda: held[0], lambda: "open", gpu=None))
    assert _value(registry, "babelq_worker_up", worker="cpu-1@h") == 1
    assert _value(registry, "babelq_jobs_in_flight", worker="cpu-1@h") == 3
    held[0] = 7
    assert _value(registry, "babelq_jobs_in_flight", worker="cpu-1@h") == 7
    states = {
        s: _value(registry, "babelq_breaker_state", worker="cpu-1@h", state=s) for s in ("closed", "open")
    }
    assert states == {"closed": 0, "open": 1}
    assert "babelq_gpu" not in generate_latest(registry).decode()
    gpu = CollectorRegistry()
    reading = {"gpu_util_pct": 87.0, "gpu_memory_used_mib": 1024.0, "gpu_memory_total_mib": 81920.0}
    gpu.register(WorkerState("gpu1@h", lambda: 0, lambda: "closed", gpu=lambda: reading, gpu_label="1"))
    assert _value(gpu, "babelq_gpu_utilization_ratio", worker="gpu1@h", gpu="1") == 0.87
    assert _value(gpu, "babelq_gpu_memory_used_bytes", worker="gpu1@h", gpu="1") == 1024.0 * 1024 * 1024


def test_a_metrics_port_in_use_is_logged_not_fatal():
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        assert serve_metrics(CollectorRegistry(), taken.getsockname()[1]) is None
    assert serve_metrics(CollectorRegistry(), 0) is None  # 0: not served


def test_producer_counts_and_the_cache_counters():
    registry = CollectorRegistry()
    metrics = ProducerMetrics(registry)
    metrics.submitted(_job(), cached=False)
    metrics.submitted(_job(), cached=True)
    registry.register(CacheCollector(lambda: CacheStats("redis", hits=5, misses=9, entries=4)))
    assert _value(registry, "babelq_jobs_accepted_total", queue="chat.es", language="es") == 2
    assert _value(registry, "babelq_jobs_cached_total", language="es") == 1
    assert _value(registry, "babelq_cache_hits_total", backend="redis") == 5
    assert _value(registry, "babelq_cache_misses_total", backend="redis") == 9


def test_a_workers_metrics_are_on_this_machine_only_unless_configured():
    """The shipped BABELQ_WORKER_METRICS_HOST: loopback, so another host cannot read them."""
    from core.settings import load_settings

    assert load_settings().worker_metrics_host == "127.0.0.1"
    server = serve_metrics(CollectorRegistry(), _free_port(), load_settings().worker_metrics_host)
    assert server is not None
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
