"""Starting a worker process: load the model in this process, then consume the queues."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence

from celery import Celery

from ops.settings import Settings
from persistence.db import make_engine, make_session_factory
from routing.celery_app import create_celery_app
from routing.table import RoutingTable
from workers.control import RUNTIME_ATTRIBUTE, register_control_commands
from workers.runtime import build_runtime, profile_for_queues
from workers.tasks import register_tasks

log = logging.getLogger(__name__)


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
) -> int:
    """Load the model, warm it up, consume until stopped; returns the worker's exit code."""
    queues = list(queues or table.queue_names)
    profile = profile_for_queues(table, queues)
    app = app or create_celery_app(settings, table)
    engine = make_engine(settings.store_url)
    runtime = build_runtime(settings, profile, make_session_factory(engine))
    register_tasks(app, lambda: runtime.responder)
    register_control_commands()
    setattr(app, RUNTIME_ATTRIBUTE, runtime)  # read by the remote-control commands
    concurrency = settings.worker_concurrency or 2 * profile.max_batch_size
    log.info("worker %s consumes %s with %d task threads", name, queues, concurrency)
    worker = app.Worker(
        hostname=node_name(name, exact_name), queues=queues, pool_cls="threads", concurrency=concurrency,
        loglevel="INFO", without_mingle=settings.embedded, without_gossip=settings.embedded,
    )  # fmt: skip
    try:
        worker.start()
    finally:
        runtime.close()
        engine.dispose()
    return int(worker.exitcode or 0)
