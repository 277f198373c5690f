"""Starting a worker process: load the model in this process, then consume the queues."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
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
from persistence.db import SessionFactory, make_engine, make_session_factory
from persistence.partial_answers import PartialAnswers, open_partial_answers
from routing.table import RoutingTable
from transport.celery_app import create_celery_app
from transport.held_messages import HeldMessages
from transport.queues import declare_queues, publish_job
from workers.bulk_consumer import PIPELINE_ATTRIBUTE
from workers.control import RUNTIME_ATTRIBUTE, register_control_commands
from workers.dead_lettering import DEAD_LETTERING_CONSUMER
from workers.delivery_requests import delivery_requester
from workers.gpus import gpu_readings
from workers.health import GiveUp
from workers.liveness import Heartbeat
from workers.metrics import WorkerMetrics, WorkerState, serve_metrics
from workers.pipeline import JobPipeline
from workers.republisher import Republisher
from workers.runtime import RuntimeServices, WorkerRuntime, build_runtime, profile_for_queues
from workers.tasks import register_tasks

log = logging.getLogger(__name__)
GAVE_UP_EXIT_CODE = 3
QUEUE_DEPTH_IN_BATCHES = 4


def node_name(prefix: str, exact: bool = False) -> str:
    """Celery node name that says what the worker is: gpu0@host, or cpu-<pid>@host (several CPU
    workers may share a host)."""
    return f"{prefix}@{socket.gethostname()}" if exact else f"{prefix}-{os.getpid()}@{socket.gethostname()}"


@dataclass(frozen=True)
class Shared:
    """What a worker uses that its process may hold already: the embedded stack's API half gives
    its own (one engine on the SQLite file); a worker process opens its own (`open_shared`)."""

    app: Celery
    factory: SessionFactory
    cache: AnswerCache
    notices: AnswerNotices
    partials: PartialAnswers


@dataclass(frozen=True)
class WorkerOptions:
    """Which queues a worker serves and how it is named: gpu0@host (`exact_name`), else cpu-<pid>@host.
    Its metrics are served on BABELQ_WORKER_METRICS_PORT + `metrics_port_offset` (a GPU's index);
    `extra_queues` are served beside the chat queues (the embedded stack's deliveries)."""

    queues: Sequence[str] = ()  # none: every queue of the routing table
    name: str = "cpu"
    exact_name: bool = False
    metrics_port_offset: int = 0
    extra_queues: Sequence[str] = ()


@dataclass(frozen=True)
class Worker:
    """One worker process's root, once opened: what consuming needs of it."""

    app: Celery
    runtime: WorkerRuntime
    hostname: str
    gave_up: threading.Event  # set when its model is given up on (GAVE_UP_EXIT_CODE)


def run_worker(
    settings: Settings,
    table: RoutingTable,
    options: WorkerOptions | None = None,
    shared: Shared | None = None,
) -> int:
    """Load the model, warm it up, consume until stopped; returns the worker's exit code. What it
    opened is closed in the reverse order, whatever ends it."""
    options = options or WorkerOptions()
    with ExitStack() as resources:
        worker = open_worker(
            settings, table, options, shared or open_shared(settings, table, resources), resources
        )
        return _consume(worker, settings, options.extra_queues)


def open_shared(settings: Settings, table: RoutingTable, resources: ExitStack) -> Shared:
    """A worker process's own broker app, store, cache, notices and partial answers."""
    engine = make_engine(settings.store_url)
    resources.callback(engine.dispose)
    partials = open_partial_answers(settings)
    resources.callback(partials.close)
    notices = open_answer_notices(settings)
    resources.callback(notices.close)  # closed first
    app = create_celery_app(settings, table)
    return Shared(app, make_session_factory(engine), open_answer_cache(settings), notices, partials)


def open_worker(
    settings: Settings, table: RoutingTable, options: WorkerOptions, shared: Shared, resources: ExitStack
) -> Worker:
    """The model loaded and the pipeline started; `resources` closes them. The heartbeat stops
    after the runtime closes (registered before it): peers would take the jobs a worker is still
    finishing as orphans of a dead one."""
    queues = list(options.queues or table.queue_names)
    if not settings.embedded:
        _declare_queues(shared.app)
    set_torch_threads(settings.torch_threads)
    hostname = node_name(options.name, options.exact_name)
    republisher = _republisher(settings, table, shared)
    heartbeat = Heartbeat(shared.factory, hostname, settings.heartbeat_s, republisher.run_orphans)
    resources.callback(heartbeat.stop)
    gave_up = threading.Event()
    metrics_port = _metrics_port(settings, options)
    registry = CollectorRegistry() if metrics_port > 0 else None
    services = _services(
        settings,
        table,
        shared,
        republisher=republisher,
        give_up=_give_up(settings, gave_up),
        registry=registry,
    )
    runtime = build_runtime(settings, profile_for_queues(table, queues), queues, services)
    resources.callback(runtime.close)
    heartbeat.start()
    delivering = delivery_requester(shared.app, load_channels(settings.channels_file).delivering)
    pipeline = runtime.start_pipeline(hostname, settings.job_max_retries, table.dead_letter_queue, delivering)
    if registry is not None:
        server = _serve_metrics(registry, runtime, hostname, settings, metrics_port)
        if server is not None:  # None: its port was taken (logged); the worker answers without
            resources.callback(server.shutdown)
    _register(shared.app, runtime, pipeline)
    return Worker(shared.app, runtime, hostname, gave_up)


def _metrics_port(settings: Settings, options: WorkerOptions) -> int:
    """Where this worker serves /metrics (0 or less: it keeps none)."""
    return (
        settings.worker_metrics_port + options.metrics_port_offset if settings.worker_metrics_port > 0 else 0
    )


def _republisher(settings: Settings, table: RoutingTable, shared: Shared) -> Republisher:
    return Republisher(
        shared.factory,
        partial(publish_job, shared.app),
        after_s=settings.republish_after_s,
        dead_after_s=settings.worker_dead_after_s,
        held=HeldMessages(shared.app),
        people_queues=[table.unanswered.human_queue],
    )


def _services(
    settings: Settings,
    table: RoutingTable,
    shared: Shared,
    *,
    republisher: Republisher,
    give_up: GiveUp,
    registry: CollectorRegistry | None,
) -> RuntimeServices:
    return RuntimeServices(
        shared.factory,
        answers=answer_lookup(shared.cache, settings),
        notices=shared.notices,
        partials=shared.partials,
        table=table,
        chores=(republisher.run_once, republisher.expire_overdue),
        give_up=give_up,
        metrics=WorkerMetrics(registry) if registry is not None else None,
    )


def _register(app: Celery, runtime: WorkerRuntime, pipeline: JobPipeline) -> None:
    """The worker's tasks and remote-control commands, and where they find this worker: Celery
    hands a task's consumer strategy and a control command the app alone."""
    register_tasks(app)
    register_control_commands()
    setattr(app, RUNTIME_ATTRIBUTE, runtime)
    setattr(app, PIPELINE_ATTRIBUTE, pipeline)


def _serve_metrics(
    registry: CollectorRegistry, runtime: WorkerRuntime, hostname: str, settings: Settings, port: int
) -> Any | None:
    """This worker's /metrics: what it counts (in `registry` already), its CPU seconds and memory,
    and its state read at each scrape."""
    ProcessCollector(registry=registry)
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
    return serve_metrics(registry, port, settings.worker_metrics_host)


def _declare_queues(app: Celery) -> None:
    """Fail at start, with what to do, when RabbitMQ holds a queue babelq cannot declare (other
    arguments); a broker not reachable yet is Celery's to wait for, as it does at start-up."""
    try:
        declare_queues(app)
    except ConfigurationError:
        raise
    except Exception as exc:  # kombu raises many transport-specific types
        log.warning("could not declare the queues yet (%s); the worker will retry its broker", exc)


def _consume(worker: Worker, settings: Settings, extra_queues: Sequence[str] = ()) -> int:
    """Run the Celery worker until it stops, wired to the runtime (pause/resume, drain, give-up).
    `extra_queues`: served beside the chat queues by the pool (the embedded stack's deliveries),
    never paused by the breaker."""
    runtime, hostname = worker.runtime, worker.hostname
    # The prefetch: 4 batches' worth, one running, the rest a pool the batcher picks similar lengths
    # from (less padding: measured +13-20% jobs/s over 2 batches' worth, see README). The jobs run
    # in the pipeline, not in pool threads: Celery's thread pool only sets the prefetch here.
    concurrency = settings.worker_concurrency or QUEUE_DEPTH_IN_BATCHES * runtime.profile.max_batch_size
    log.info("worker %s consumes %s, up to %d jobs held", hostname, runtime.switch.queues, concurrency)
    celery_worker = worker.app.Worker(
        hostname=hostname,
        queues=[*runtime.switch.queues, *extra_queues],
        pool_cls="threads",
        concurrency=concurrency,
        loglevel="INFO",
        without_mingle=settings.embedded,
        without_gossip=settings.embedded,
        consumer_cls=DEAD_LETTERING_CONSUMER,
    )
    runtime.switch.attach(celery_worker.consumer)
    deadline = threading.Timer(
        settings.shutdown_timeout_s, _exit_past_deadline, (settings.shutdown_timeout_s,)
    )
    deadline.daemon = True
    on_shutdown = _drain_on_shutdown(runtime, hostname, deadline)
    try:
        celery_worker.start()
    finally:
        deadline.cancel()  # the warm shutdown finished in time
        worker_shutting_down.disconnect(on_shutdown)
    return GAVE_UP_EXIT_CODE if worker.gave_up.is_set() else int(celery_worker.exitcode or 0)


def _give_up(settings: Settings, gave_up: threading.Event) -> GiveUp:
    """After BABELQ_BREAKER_MAX_TRIALS failed breaker trials in a row (or at once, when its engine
    is dead) the worker shuts down (as on SIGTERM) and exits with GAVE_UP_EXIT_CODE, for its
    supervisor (GpuFleet, systemd, Kubernetes) to restart it."""

    def give_up() -> None:
        gave_up.set()
        os.kill(os.getpid(), signal.SIGTERM)

    return GiveUp(settings.breaker_max_trials, give_up)


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
