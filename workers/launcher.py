"""Starting a worker process: load the model in this process, then consume the queues."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from celery import Celery
from celery.signals import worker_shutting_down
from prometheus_client import CollectorRegistry, ProcessCollector

from core.channels import load_channels
from core.errors import ConfigurationError
from core.settings import Settings
from persistence.answer_cache import AnswerCache, answer_lookup, open_answer_cache
from persistence.answer_notices import AnswerNotices, open_answer_notices
from persistence.db import make_engine, make_session_factory
from persistence.partial_answers import PartialAnswers, open_partial_answers
from routing.table import RoutingTable
from transport.celery_app import create_celery_app
from transport.held_messages import HeldMessages
from transport.queues import declare_queues, publish_job
from workers.bulk_consumer import PIPELINE_ATTRIBUTE
from workers.control import RUNTIME_ATTRIBUTE, register_control_commands
from workers.dead_lettering import DEAD_LETTERING_CONSUMER
from workers.delivery_requests import chained, delivery_requester
from workers.gpus import gpu_readings
from workers.liveness import Heartbeat
from workers.metrics import WorkerMetrics, WorkerState, serve_metrics
from workers.republisher import Republisher
from workers.runtime import WorkerRuntime, build_runtime, profile_for_queues
from workers.tasks import register_tasks

log = logging.getLogger(__name__)
GAVE_UP_EXIT_CODE = 3
QUEUE_DEPTH_IN_BATCHES = 4


def node_name(prefix: str, exact: bool = False) -> str:
    """Celery node name that says what the worker is: gpu0@host, or cpu-<pid>@host (several CPU
    workers may share a host)."""
    return f"{prefix}@{socket.gethostname()}" if exact else f"{prefix}-{os.getpid()}@{socket.gethostname()}"


def run_worker(
    settings: Settings,
    table: RoutingTable,
    queues: Sequence[str] | None = None,
    app: Celery | None = None,
    name: str = "cpu",
    exact_name: bool = False,
    cache: AnswerCache | None = None,
    notices: AnswerNotices | None = None,
    partials: PartialAnswers | None = None,
    metrics_port_offset: int = 0,
    extra_queues: Sequence[str] = (),
) -> int:
    """Load the model, warm it up, consume until stopped; returns the worker's exit code.
    Its metrics are served on BABELQ_WORKER_METRICS_PORT + `metrics_port_offset` (a GPU's index)."""
    queues = list(queues or table.queue_names)
    profile = profile_for_queues(table, queues)
    app = app or create_celery_app(settings, table)
    if not settings.embedded:
        _declare_queues(app)
    set_torch_threads(settings.torch_threads)
    engine = make_engine(settings.store_url)
    answers = answer_lookup(cache or open_answer_cache(settings), settings)
    factory = make_session_factory(engine)
    own_notices = None if notices else open_answer_notices(settings)  # else the caller's to close
    own_partials = None if partials else open_partial_answers(settings)
    runtime = build_runtime(
        settings, profile, factory, queues, answers, notices or own_notices, partials or own_partials, table
    )
    republisher = Republisher(
        factory,
        partial(publish_job, app),
        after_s=settings.republish_after_s,
        dead_after_s=settings.worker_dead_after_s,
        held=HeldMessages(app),
        people_queues=[table.unanswered.human_queue],
    )
    runtime.monitor.chores.extend([republisher.run_once, republisher.expire_overdue])
    hostname = node_name(name, exact_name)
    heartbeat = Heartbeat(factory, hostname, settings.heartbeat_s, republisher.run_orphans)
    heartbeat.start()
    pipeline = runtime.start_pipeline(hostname, settings.job_max_retries, table.dead_letter_queue)
    metrics_port = settings.worker_metrics_port + metrics_port_offset
    metrics_server = _serve_metrics(runtime, hostname, metrics_port, settings.worker_metrics_host)
    delivering = load_channels(settings.channels_file).delivering
    pipeline.on_answered = chained(pipeline.on_answered, delivery_requester(app, delivering))
    register_tasks(app)
    register_control_commands()
    setattr(app, RUNTIME_ATTRIBUTE, runtime)  # read by the remote-control commands
    setattr(app, PIPELINE_ATTRIBUTE, pipeline)  # read by the chat task's consumer strategy
    try:
        return _consume(app, settings, runtime, hostname, extra_queues)
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
        runtime.close()
        heartbeat.stop()
        for own in (own_notices, own_partials):
            if own is not None:
                own.close()
        engine.dispose()


def _serve_metrics(runtime: WorkerRuntime, hostname: str, port: int, host: str) -> Any | None:
    """This worker's /metrics: what it counts, and its state read at each scrape (port 0: no
    metrics are kept at all)."""
    if port <= 0:
        return None
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # the worker's CPU seconds and memory
    runtime.observe(WorkerMetrics(registry))
    pipeline = runtime.pipeline
    on_gpu = runtime.monitor.facts.device.startswith("cuda")
    registry.register(
        WorkerState(
            hostname,
            in_flight=lambda: pipeline.held if pipeline is not None else 0,
            breaker_state=lambda: runtime.breaker.state,
            gpu=gpu_readings if on_gpu else None,
            gpu_label=os.environ.get("CUDA_VISIBLE_DEVICES", "0") or "0",
        )
    )
    return serve_metrics(registry, port, host)


def _declare_queues(app: Celery) -> None:
    """Fail at start, with what to do, when RabbitMQ holds a queue babelq cannot declare (other
    arguments); a broker not reachable yet is Celery's to wait for, as it does at start-up."""
    try:
        declare_queues(app)
    except ConfigurationError:
        raise
    except Exception as exc:  # kombu raises many transport-specific types
        log.warning("could not declare the queues yet (%s); the worker will retry its broker", exc)


def _consume(
    app: Celery, settings: Settings, runtime: WorkerRuntime, hostname: str, extra_queues: Sequence[str] = ()
) -> int:
    """Run the Celery worker until it stops, wired to the runtime (pause/resume, drain, give-up).
    `extra_queues`: served beside the chat queues by the pool (the embedded stack's deliveries),
    never paused by the breaker."""
    # The prefetch: 4 batches' worth, one running, the rest a pool the batcher picks similar lengths
    # from (less padding: measured +13-20% jobs/s over 2 batches' worth, see README). The jobs run
    # in the pipeline, not in pool threads: Celery's thread pool only sets the prefetch here.
    concurrency = settings.worker_concurrency or QUEUE_DEPTH_IN_BATCHES * runtime.profile.max_batch_size
    log.info("worker %s consumes %s, up to %d jobs held", hostname, runtime.switch.queues, concurrency)
    worker = app.Worker(
        hostname=hostname,
        queues=[*runtime.switch.queues, *extra_queues],
        pool_cls="threads",
        concurrency=concurrency,
        loglevel="INFO",
        without_mingle=settings.embedded,
        without_gossip=settings.embedded,
        consumer_cls=DEAD_LETTERING_CONSUMER,
    )
    runtime.switch.attach(worker.consumer)
    gave_up = _give_up_after(runtime, settings.breaker_max_trials)
    deadline = threading.Timer(
        settings.shutdown_timeout_s, _exit_past_deadline, (settings.shutdown_timeout_s,)
    )
    deadline.daemon = True
    on_shutdown = _drain_on_shutdown(runtime, hostname, deadline)
    try:
        worker.start()
    finally:
        deadline.cancel()  # the warm shutdown finished in time
        worker_shutting_down.disconnect(on_shutdown)
    return GAVE_UP_EXIT_CODE if gave_up.is_set() else int(worker.exitcode or 0)


def _give_up_after(runtime: WorkerRuntime, max_trials: int) -> threading.Event:
    """After `max_trials` failed breaker trials in a row the worker shuts down (as on SIGTERM)
    and exits with GAVE_UP_EXIT_CODE, for its supervisor (GpuFleet, systemd, Kubernetes) to
    restart it."""
    gave_up = threading.Event()

    def give_up() -> None:
        gave_up.set()
        os.kill(os.getpid(), signal.SIGTERM)

    runtime.monitor.max_failed_trials = max_trials
    runtime.monitor.on_give_up = give_up
    return gave_up


def _drain_on_shutdown(
    runtime: WorkerRuntime, hostname: str, deadline: threading.Timer
) -> Callable[..., None]:
    """On SIGTERM/SIGINT (Celery's warm shutdown): stop consuming, let the running batch finish
    and be acked, hand the jobs still waiting back to the broker; past the deadline, exit without
    acking what is left, so the broker redelivers it."""

    def on_shutdown(sender: str | None = None, **_: Any) -> None:
        if sender not in (None, hostname):
            return
        runtime.drain()
        if not deadline.is_alive() and not deadline.finished.is_set():
            deadline.start()

    worker_shutting_down.connect(on_shutdown, weak=False)
    return on_shutdown


def _exit_past_deadline(deadline_s: float) -> None:
    log.error("shutdown took longer than %.0f s: exiting; unacked jobs go back to the broker", deadline_s)
    logging.shutdown()
    os._exit(1)


def set_torch_threads(threads: int) -> None:
    """Cap torch's CPU threads (0 leaves torch's default: every core), so that several CPU
    workers on one host do not oversubscribe its cores."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
