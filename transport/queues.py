"""One place for queue and task names, and the typed helper that publishes a ChatJob."""

from __future__ import annotations

import weakref
from typing import Any

from amqp.exceptions import PreconditionFailed
from celery import Celery
from kombu.entity import Queue

from core.errors import ConfigurationError, PublishError
from core.jobs import ChatJob
from routing.table import RoutingTable

ANSWER_TASK = "babelq.answer_chat"
DEAD_LETTER_TASK = "babelq.dead_letter"
DELIVER_TASK = "babelq.deliver"
# Answers to push to channels: served by `babelq deliver` (and the embedded stack), not the GPUs.
DELIVERY_QUEUE = "chat.deliveries"
_RETRY_POLICY = {"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5}


def declared_queues(
    table: RoutingTable, queue_type: str = "classic", delivery_limit: int = 20
) -> list[Queue]:
    """Every queue of the table plus the dead-letter queue, durable, each bound by its own name.

    On RabbitMQ a chat queue dead-letters to the dead-letter queue (through the default exchange)
    whatever is rejected without requeue or expires: a message no babelq code settled still
    lands there (workers dead-letter what they refuse themselves, with the reason, on every
    broker). `queue_type="quorum"`: replicated quorum queues for the chat queues, which also
    dead-letter a message after `delivery_limit` deliveries (one that kills each worker that
    takes it). The dead-letter queue stays classic: listing it requeues each letter, and a
    delivery limit there would drop letters. Other brokers ignore these arguments."""
    chat: dict[str, object] = {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": table.dead_letter_queue,
    }
    if queue_type == "quorum":
        chat |= {"x-queue-type": "quorum", "x-delivery-limit": delivery_limit}
    queues = [Queue(name, routing_key=name, durable=True, queue_arguments=chat) for name in table.queue_names]  # type: ignore[no-untyped-call]
    dead = Queue(table.dead_letter_queue, routing_key=table.dead_letter_queue, durable=True)  # type: ignore[no-untyped-call]
    deliveries = Queue(DELIVERY_QUEUE, routing_key=DELIVERY_QUEUE, durable=True)  # type: ignore[no-untyped-call]
    return [*queues, dead, deliveries, *_human(table)]


def _human(table: RoutingTable) -> list[Queue]:
    """The queue people take jobs from, when the table hands them any (no worker consumes it)."""
    if table.unanswered.action != "human":
        return []
    name = table.unanswered.human_queue
    return [Queue(name, routing_key=name, durable=True)]  # type: ignore[no-untyped-call]


def declare_queues(app: Celery, recreate_empty: bool = False) -> list[str]:
    """Declare every queue of the app with babelq's arguments; returns what it did to each.

    RabbitMQ refuses a queue declared again with other arguments (another type, no dead-letter
    exchange: a queue made by an older babelq or by hand): ConfigurationError says which and
    what to do. With `recreate_empty`, such a queue that holds no message is deleted and
    declared anew; one that holds messages never is."""
    done = []
    for queue in app.conf.task_queues:
        with app.connection_for_write() as connection:
            try:
                queue.bind(connection.default_channel).declare()
                done.append(f"{queue.name}: declared")
                continue
            except PreconditionFailed as exc:
                mismatch = exc
        if not recreate_empty:
            raise ConfigurationError(_mismatch_help(queue.name, mismatch))
        done.append(_recreate_if_empty(app, queue, mismatch))
    return done


def _recreate_if_empty(app: Celery, queue: Queue, mismatch: Exception) -> str:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        _name, waiting, _consumers = channel.queue_declare(queue.name, passive=True)
        if waiting:
            raise ConfigurationError(f"{_mismatch_help(queue.name, mismatch)} It holds {waiting} messages.")
        channel.queue_delete(queue.name, if_empty=True)
        queue.bind(channel).declare()  # type: ignore[no-untyped-call]
    return f"{queue.name}: recreated with babelq's arguments (it was empty)"


def _mismatch_help(name: str, exc: Exception) -> str:
    return (
        f"RabbitMQ queue {name} exists with other arguments than babelq declares ({exc}). Drain it "
        f"(stop its producers, let the workers empty it), then run `babelq queues declare "
        f"--recreate-empty`, or delete it (`rabbitmqctl delete_queue {name}`)."
    )


SUSPECT_HEADER = "babelq_poison_suspect"


def publish_job(
    app: Celery, job: ChatJob, retries: int = 0, countdown: float | None = None, suspect: bool = False
) -> None:
    """Send a job to its queue; the job_id is the Celery task id (and the idempotency key).
    `retries`: how many times it was retried already (a worker's retry after a model failure);
    `countdown`: seconds before a worker may start it (a retry's backoff); `suspect`: it failed
    alone in a batch before (a header: its retries are few)."""
    try:
        with app.producer_or_acquire() as producer:
            headers = {SUSPECT_HEADER: True} if suspect else None
            _send(app, producer, job, retries=retries, countdown=countdown, headers=headers)
    except Exception as exc:  # kombu raises many transport-specific types
        raise PublishError(f"could not publish job {job.job_id} to {job.queue}: {exc}") from exc


def _send(
    app: Celery,
    producer: Any,
    job: ChatJob,
    *,
    retries: int,
    countdown: float | None,
    headers: dict[str, Any] | None,
) -> None:
    app.send_task(
        ANSWER_TASK,
        args=[job.to_wire()],
        task_id=job.job_id,
        queue=job.queue,
        routing_key=job.queue,
        priority=job.priority,
        retries=retries,
        countdown=countdown,
        headers=headers,
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


def publish_delivery(app: Celery, job_id: str, countdown: float | None = None) -> None:
    """Ask for a job's answer to be pushed to its channel (DELIVER_TASK on DELIVERY_QUEUE)."""
    try:
        app.send_task(
            DELIVER_TASK,
            args=[job_id],
            queue=DELIVERY_QUEUE,
            routing_key=DELIVERY_QUEUE,
            countdown=countdown,
            retry=True,
            retry_policy=_RETRY_POLICY,
        )
    except Exception as exc:  # kombu raises many transport-specific types
        raise PublishError(f"could not ask for the delivery of job {job_id}: {exc}") from exc
