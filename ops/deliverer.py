"""`babelq deliver`: the process that pushes answers to channels (DELIVERY_QUEUE), a plain
Celery worker with a thread pool: the pushes wait on the network, not on a GPU."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from celery import Celery

from core.settings import Settings
from ops.stack import Stack, build_stack
from producers.delivery_task import register_delivery_task
from transport.queues import DELIVERY_QUEUE, declare_queues

log = logging.getLogger(__name__)


@contextmanager
def delivering(stack: Stack) -> Iterator[Celery]:
    """`stack`'s Celery app with the delivery task registered (and its HTTP client open)."""
    with httpx.Client(follow_redirects=False) as http:
        dead_letters = stack.table.dead_letter_queue
        register_delivery_task(stack.celery, stack.factory, stack.access.channels, dead_letters, http)
        yield stack.celery


def run_deliverer(settings: Settings, concurrency: int, hostname: str) -> int:
    stack = build_stack(settings)
    try:
        with delivering(stack) as app:
            declare_queues(app)
            log.info("deliverer %s serves %s with %d threads", hostname, DELIVERY_QUEUE, concurrency)
            worker = app.Worker(hostname=hostname, queues=[DELIVERY_QUEUE], pool_cls="threads",
                                concurrency=concurrency, loglevel="INFO")  # fmt: skip
            worker.start()
            return int(worker.exitcode or 0)
    finally:
        stack.close()
