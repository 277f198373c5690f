"""One place for queue and task names, and the typed helper that publishes a ChatJob."""

from __future__ import annotations

import weakref
from typing import Any

from celery import Celery
from kombu.entity import Queue

from core.errors import PublishError
from core.jobs import ChatJob
from routing.table import RoutingTable

ANSWER_TASK = "babelq.answer_chat"
DEAD_LETTER_TASK = "babelq.dead_letter"
_RETRY_POLICY = {"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5}


def declared_queues(table: RoutingTable) -> list[Queue]:
    """Every queue of the table plus the dead-letter queue, durable, each bound by its own name."""
    names = [*table.queue_names, table.dead_letter_queue]
    return [Queue(name, routing_key=name, durable=True) for name in names]  # type: ignore[no-untyped-call]


def publish_job(app: Celery, job: ChatJob, retries: int = 0, countdown: float | None = None) -> None:
    """Send a job to its queue; the job_id is the Celery task id (and the idempotency key).
    `retries`: how many times it was retried already (a worker's retry after a model failure);
    `countdown`: seconds before a worker may start it (a retry's backoff)."""
    try:
        with app.producer_or_acquire() as producer:
            _send(app, producer, job, retries, countdown)
    except Exception as exc:  # kombu raises many transport-specific types
        raise PublishError(f"could not publish job {job.job_id} to {job.queue}: {exc}") from exc


def _send(app: Celery, producer: Any, job: ChatJob, retries: int, countdown: float | None) -> None:
    app.send_task(
        ANSWER_TASK,
        args=[job.to_wire()],
        task_id=job.job_id,
        queue=job.queue,
        routing_key=job.queue,
        priority=job.priority,
        retries=retries,
        countdown=countdown,
        producer=producer,
        declare=_to_declare(app, producer, job.queue),
        retry=True,
        retry_policy=_RETRY_POLICY,
        # What Flower and task events show for the arguments. Celery would otherwise render
        # the whole body with saferepr on every publish (a third of its cost) and show the
        # customer's text to whoever watches the queue.
        argsrepr=f"[job {job.job_id}, {job.language}, {len(job.text)} chars]",
        kwargsrepr="{}",
    )


def _to_declare(app: Celery, producer: Any, queue_name: str) -> list[Queue]:
    """The job's queue, bound to this producer's channel once and reused.

    Celery declares a message's queue with kombu's `maybe_declare`, which binds a fresh copy of
    the queue to the channel on every publish before it looks in the connection's record of what
    it declared already: that copy was a sixth of a publish's CPU. A queue bound already skips
    the copy; the record still decides, so a new connection (a broker restarted, a publish
    retried on a revived connection) declares the queue again."""
    bound = _bound_queues.setdefault(producer.channel, {})
    if queue_name not in bound:
        bound[queue_name] = app.amqp.queues[queue_name].bind(producer.channel)
    return [bound[queue_name]]


_bound_queues: weakref.WeakKeyDictionary[Any, dict[str, Queue]] = weakref.WeakKeyDictionary()
