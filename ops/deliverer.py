"""`babelq deliver`: the process that pushes answers to channels (DELIVERY_QUEUE), a plain
Celery worker with a thread pool: the pushes wait on the network, not on a GPU."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from celery import Celery

from core.settings import Settings
from persistence import deliveries
from producers.delivery_task import register_delivery_task
from producers.stack import Stack, build_stack
from transport.queues import DELIVERY_QUEUE, declare_queues
from workers.liveness import Heartbeat

log = logging.getLogger(__name__)


SWEEP_EVERY_S = 60.0
# A push not tried this long after its job ended was never asked for (a worker died between
# storing the answer and asking, or an in-memory broker forgot the request): ask again.
STRANDED_AFTER = timedelta(minutes=2)


@contextmanager
def delivering(stack: Stack) -> Iterator[Celery]:
    """`stack`'s Celery app with the delivery task registered (and its HTTP client open), and
    stranded deliveries asked for again while it lasts."""
    stopped = threading.Event()
    sweeper = threading.Thread(
        target=_sweep_loop, args=(stack, stopped), name="babelq-deliveries", daemon=True
    )
    with httpx.Client(follow_redirects=False) as http:
        dead_letters = stack.table.dead_letter_queue
        register_delivery_task(stack.celery, stack.factory, stack.access.channels, dead_letters, http)
        sweeper.start()
        try:
            yield stack.celery
        finally:
            stopped.set()


def ask_again_for_stranded(stack: Stack) -> int:
    """Ask once more for every stranded delivery; how many there were."""
    stranded = deliveries.stranded(stack.factory, STRANDED_AFTER)
    for job_id in stranded:
        stack.request_delivery(job_id)
    if stranded:
        log.warning("asked again for %d deliveries never tried", len(stranded))
    return len(stranded)


def _sweep_loop(stack: Stack, stopped: threading.Event) -> None:
    while not stopped.wait(SWEEP_EVERY_S):
        try:
            ask_again_for_stranded(stack)
        except Exception as exc:  # the store or broker is down: the next sweep tries again
            log.warning("could not sweep stranded deliveries: %s", exc)


def run_deliverer(settings: Settings, concurrency: int, hostname: str) -> int:
    stack = build_stack(settings)
    heartbeat = Heartbeat(stack.factory, hostname, settings.heartbeat_s, lambda: None)  # for worker-alive
    heartbeat.start()
    try:
        with delivering(stack) as app:
            declare_queues(app)
            log.info("deliverer %s serves %s with %d threads", hostname, DELIVERY_QUEUE, concurrency)
            worker = app.Worker(
                hostname=hostname,
                queues=[DELIVERY_QUEUE],
                pool_cls="threads",
                concurrency=concurrency,
                loglevel="INFO",
            )
            worker.start()
            return int(worker.exitcode or 0)
    finally:
        heartbeat.stop()
        stack.close()
