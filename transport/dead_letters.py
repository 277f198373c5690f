"""The dead-letter queue: messages no worker could bring to an end, with why and their body.

A dead letter is a Celery message of DEAD_LETTER_TASK on the table's dead-letter queue (no worker
consumes it), its args the original job payload as received, its kwargs the reason, the error,
the queue it came from and when. Reading the queue takes every message and puts back those not
replayed or dropped, so a listing changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery

from core.errors import PublishError
from core.jobs import new_id, utcnow
from transport.queues import DEAD_LETTER_TASK


@dataclass(frozen=True)
class DeadLetter:
    letter_id: str
    job_id: str | None
    reason: str
    error: str
    queue: str | None
    at: str
    payload: Any

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "payload"}


def dead_letter(
    app: Celery, queue: str, payload: Any, *, reason: str, error: str, source: str | None
) -> None:
    """Put a message on the dead-letter `queue`; PublishError if the broker does not take it."""
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    meta = {"reason": reason, "error": error, "queue": source, "job_id": job_id, "at": utcnow().isoformat()}
    try:
        app.send_task(
            DEAD_LETTER_TASK,
            args=[payload],
            kwargs=meta,
            task_id=new_id(),
            queue=queue,
            routing_key=queue,
            retry=True,
            argsrepr=f"[dead letter of job {job_id}]",
            kwargsrepr=reason,
        )
    except Exception as exc:  # kombu raises many transport-specific types
        raise PublishError(f"could not dead-letter job {job_id}: {exc}") from exc


Decide = Callable[[DeadLetter], bool]
"""True: take the letter off the queue (replayed or dropped); False: put it back."""


def walk_dead_letters(app: Celery, queue: str, decide: Decide | None = None) -> list[DeadLetter]:
    """Every dead letter on `queue`, oldest first; each one `decide` takes is acked, the rest
    are put back."""
    with app.connection_for_write() as connection:
        bound = _declared(app, queue, connection)
        messages = []
        while (message := bound.get(no_ack=False)) is not None:
            messages.append(message)
        letters = [_letter(message) for message in messages]
        for message, letter in zip(messages, letters, strict=True):
            if decide is not None and decide(letter):
                message.ack()
            else:
                message.requeue()
    return letters


def purge_dead_letters(app: Celery, queue: str) -> int:
    with app.connection_for_write() as connection:
        return int(_declared(app, queue, connection).purge() or 0)


def _declared(app: Celery, queue: str, connection: Any) -> Any:
    """The dead-letter queue bound to the connection, declared (it may not exist yet)."""
    bound = app.amqp.queues[queue].bind(connection.default_channel)
    bound.declare()
    return bound


def _letter(message: Any) -> DeadLetter:
    death = _first_death(message.headers)
    if death is not None:
        return _broker_letter(message, death)
    args, kwargs, _embed = message.decode()
    payload = args[0] if args else None
    return DeadLetter(
        letter_id=str(message.headers.get("id")),
        job_id=kwargs.get("job_id"),
        reason=str(kwargs.get("reason")),
        error=str(kwargs.get("error")),
        queue=kwargs.get("queue"),
        at=str(kwargs.get("at")),
        payload=payload,
    )


def _broker_letter(message: Any, death: dict[str, Any]) -> DeadLetter:
    """A message RabbitMQ dead-lettered itself (rejected without requeue, expired, or delivered
    more often than a quorum queue's delivery limit): the original message, with why in x-death."""
    try:
        args, _kwargs, _embed = message.decode()
        payload = args[0] if args else None
    except Exception:  # a body no one could read, dead-lettered as it was
        payload = {
            "body": message.body.decode(errors="replace") if isinstance(message.body, bytes) else message.body
        }
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    job_id = job_id if isinstance(job_id, str) else None
    queue = death.get("queue")
    return DeadLetter(
        letter_id=str(message.headers.get("id") or job_id),
        job_id=job_id,
        reason=f"rabbitmq: {death.get('reason')}",
        error=f"dead-lettered by RabbitMQ from {queue}",
        queue=queue,
        at=str(death.get("time")),
        payload=payload,
    )


def _first_death(headers: Any) -> dict[str, Any] | None:
    deaths = headers.get("x-death") if isinstance(headers, dict) else None
    return deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else None
