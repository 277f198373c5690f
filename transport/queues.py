"""One place for queue and task names, and the typed helper that publishes a ChatJob."""

from __future__ import annotations

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


def publish_job(app: Celery, job: ChatJob, retries: int = 0) -> None:
    """Send a job to its queue; the job_id is the Celery task id (and the idempotency key).
    `retries`: how many times it was retried already (a worker's retry after a model failure)."""
    try:
        app.send_task(
            ANSWER_TASK,
            args=[job.to_wire()],
            task_id=job.job_id,
            queue=job.queue,
            routing_key=job.queue,
            priority=job.priority,
            retries=retries,
            retry=True,
            retry_policy=_RETRY_POLICY,
            # What Flower and task events show for the arguments. Celery would otherwise render
            # the whole body with saferepr on every publish (a third of its cost) and show the
            # customer's text to whoever watches the queue.
            argsrepr=f"[job {job.job_id}, {job.language}, {len(job.text)} chars]",
            kwargsrepr="{}",
        )
    except Exception as exc:  # kombu raises many transport-specific types
        raise PublishError(f"could not publish job {job.job_id} to {job.queue}: {exc}") from exc
