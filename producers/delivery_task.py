"""The Celery task that pushes answers out (DELIVER_TASK on DELIVERY_QUEUE), and the plain
object it adapts: one try per run; a failed try is retried with exponential backoff (Celery's
own `retry`, the message back on the broker with its countdown), up to the channel's
`max_attempts`; then the delivery is `dead` in the store and a letter on the dead-letter queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from celery import Celery

from core.channels import Channels
from persistence import deliveries, views
from persistence.db import SessionFactory
from producers.delivery import PushFailed, backoff_s, push, pushable, request_for
from transport.dead_letters import dead_letter
from transport.queues import DELIVER_TASK, DELIVERY_QUEUE

log = logging.getLogger(__name__)
DeadLetter = Callable[[dict[str, Any], str], None]
NOT_FINAL_RETRY_S = 5.0


class Deliverer:
    """One try at pushing a job's answer; returns seconds until the next try, or None when done
    (delivered, given up, or nothing to push)."""

    def __init__(
        self,
        factory: SessionFactory,
        channels: Channels,
        http: httpx.Client,
        dead: DeadLetter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._factory, self._channels, self._http = factory, channels, http
        self._dead, self._clock = dead, clock

    def attempt(self, job_id: str) -> float | None:
        delivery = deliveries.get(self._factory, job_id)
        if delivery is None or delivery.status != deliveries.PENDING:
            return None  # unknown, or settled by an earlier try (a duplicate message)
        config = self._channels.get(delivery.channel).delivery
        view = views.get_job(self._factory, job_id)
        if config is None or view is None:
            self._give_up(job_id, delivery.channel, delivery.target, "the channel has no delivery now")
            return None
        if not view.status.final:
            return NOT_FINAL_RETRY_S
        if not pushable(view, config):
            deliveries.attempted(
                self._factory, job_id, f"nothing to push: the job ended {view.status.value}", give_up=True
            )
            return None
        try:
            push(self._http, request_for(view, delivery.target, config, int(self._clock())), config.kind)
        except PushFailed as failed:
            return self._failed(job_id, delivery, config.max_attempts, failed)
        deliveries.attempted(self._factory, job_id, None)
        log.info("answer of job %s delivered to %s", job_id, delivery.channel)
        return None

    def _failed(
        self, job_id: str, delivery: deliveries.DeliveryView, max_attempts: int, failed: PushFailed
    ) -> float | None:
        attempt = delivery.attempts  # tries made before this one (the store counts them)
        if failed.retryable and attempt + 1 < max_attempts:
            deliveries.attempted(self._factory, job_id, str(failed))
            wait = backoff_s(attempt, failed.retry_after_s)
            log.warning("delivery of job %s failed (%s); try %d in %.1f s", job_id, failed, attempt + 2, wait)
            return wait
        self._give_up(job_id, delivery.channel, delivery.target, str(failed))
        return None

    def _give_up(self, job_id: str, channel: str, target: str, error: str) -> None:
        deliveries.attempted(self._factory, job_id, error, give_up=True)
        log.error("delivery of job %s to %s given up: %s", job_id, channel, error)
        self._dead({"job_id": job_id, "delivery": channel, "target": target}, error)


def register_delivery_task(
    app: Celery, factory: SessionFactory, channels: Channels, dead_letter_queue: str, http: httpx.Client
) -> None:
    """Register DELIVER_TASK on `app` (the process that serves DELIVERY_QUEUE)."""

    def dead(payload: dict[str, Any], error: str) -> None:
        dead_letter(
            app, dead_letter_queue, payload, reason="delivery_failed", error=error, source=DELIVERY_QUEUE
        )

    deliverer = Deliverer(factory, channels, http, dead)

    @app.task(name=DELIVER_TASK, bind=True, acks_late=True, ignore_result=True, max_retries=None)  # type: ignore[untyped-decorator]
    def deliver(task: Any, job_id: str) -> None:
        wait = deliverer.attempt(job_id)
        if wait is not None:
            raise task.retry(countdown=wait)
