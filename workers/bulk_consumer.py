"""Celery's side of bulk consumption: the chat task's messages go to the worker's JobPipeline
instead of one pool thread each.

A task's `Strategy` is the function Celery's consumer calls for each of its messages (celery-batches
hooks in the same way). Ours builds Celery's own Request for the message, so the worker's state
(`inspect reserved/active`), revokes and task events (Flower) stay as they are, and hands it to the
pipeline; the pipeline settles each message on its own through `CeleryDelivery`. Prefetch stays
bounded by the worker's concurrency: a message counts against it until it is acked or rejected.

On a warm shutdown Celery stops the consumer, then the pool, then closes the connection;
`FinishInFlight` waits between the first two, as Celery waits for its pool, so the running batch
is stored and acked on a live connection.
"""

from __future__ import annotations

import logging
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

from celery import Celery, Task, bootsteps
from celery.worker import state
from celery.worker.request import Request, create_request_cls
from celery.worker.strategy import hybrid_to_proto2, proto1_to_proto2

from core.errors import ConfigurationError
from core.jobs import ChatJob, log_fields
from transport.dead_letters import dead_letter
from transport.queues import SUSPECT_HEADER, publish_job
from workers.backoff import retry_delay_s
from workers.pipeline import JobPipeline

log = logging.getLogger(__name__)
PIPELINE_ATTRIBUTE = "babelq_pipeline"
STRATEGY = "workers.bulk_consumer:bulk_strategy"


def pipeline_of(app: Celery) -> JobPipeline:
    pipeline = getattr(app, PIPELINE_ATTRIBUTE, None)
    if pipeline is None:
        raise ConfigurationError("chat jobs are consumed by `babelq worker` (its app carries the pipeline)")
    return pipeline  # type: ignore[no-any-return]


def bulk_strategy(task: Task, app: Celery, consumer: Any, **_: Any) -> Any:
    """Celery's per-task message handler, built once when the consumer starts."""
    pipeline = pipeline_of(app)
    eventer = consumer.event_dispatcher
    make_request = create_request_cls(Request, task, consumer.pool, consumer.hostname, eventer, app=app)
    revoked = state.revoked

    def on_message(message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **__: Any) -> None:
        body, headers, decoded, utc = _protocol2(app, message, body)
        request = make_request(
            message,
            on_ack=ack,
            on_reject=reject,
            app=app,
            hostname=consumer.hostname,
            eventer=eventer,
            task=task,
            connection_errors=consumer.connection_errors,
            body=body,
            headers=headers,
            decoded=decoded,
            utc=utc,
        )
        if request.id in revoked and request.revoked():
            return
        delivery = CeleryDelivery(request, app, pipeline.dead_letter_queue)
        if request.eta:  # a retry's backoff: held (unacked) until then, outside the prefetch count
            consumer.qos.increment_eventually()
            state.task_scheduled(request)
            consumer.timer.call_at(_eta(request), _due, (consumer, request, pipeline, delivery), priority=6)
            return
        state.task_reserved(request)
        log.info("Task %s[%s] received", request.name, request.id)  # as Celery's own strategy logs it
        request.send_event(
            "task-received",
            name=request.name,
            args=request.argsrepr,
            kwargs=request.kwargsrepr,
            retries=request.request_dict.get("retries", 0),
        )
        pipeline.receive(delivery)

    return on_message


def _due(consumer: Any, request: Request, pipeline: JobPipeline, delivery: CeleryDelivery) -> None:
    """A held message's time has come: it counts against the prefetch again and goes to work."""
    consumer.qos.decrement_eventually()
    state.task_reserved(request)
    pipeline.receive(delivery)


def _eta(request: Request) -> datetime:
    """The message's ETA, timezone-aware (the timer turns it into its own monotonic clock)."""
    eta = request.eta
    parsed: datetime = datetime.fromisoformat(eta) if isinstance(eta, str) else eta
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _protocol2(app: Celery, message: Any, body: Any) -> tuple[Any, Any, bool, bool]:
    """The message as Celery's protocol 2 (what babelq publishes; older forms converted)."""
    if body is None and "args" not in message.payload:
        return message.body, message.headers, False, app.uses_utc_timezone()
    if "args" in message.payload:
        return hybrid_to_proto2(message, message.payload)  # type: ignore[no-any-return]
    return proto1_to_proto2(message, body)  # type: ignore[no-any-return]


class CeleryDelivery:
    """One message of the chat task, settled through Celery's Request (acks, state, events)."""

    def __init__(self, request: Request, app: Celery, dead_letter_queue: str) -> None:
        self._request = request
        self._app = app
        self._dead_letter_queue = dead_letter_queue
        self._started_at = time.monotonic()
        self._log = log_fields(request.id, request.delivery_info.get("routing_key"), request.hostname)

    @property
    def payload(self) -> Any:
        args = self._request.args
        return args[0] if args else None

    @property
    def retries(self) -> int:
        return int(self._request.request_dict.get("retries") or 0)

    @property
    def suspect(self) -> bool:
        return bool(self._request.request_dict.get(SUSPECT_HEADER))

    def started(self) -> None:
        self._started_at = time.monotonic()
        self._request.on_accepted(os.getpid(), self._started_at)  # active, and task-started

    def answered(self, outcome: str) -> None:
        self._ack(successful=True)
        runtime = time.monotonic() - self._started_at
        # the line Celery's pool writes for a task done, so that logs read the same
        log.info(
            "Task %s[%s] succeeded in %.3fs: %r",
            self._request.name,
            self._request.id,
            runtime,
            outcome,
            extra=self._log,
        )
        self._request.send_event("task-succeeded", result=repr(outcome), runtime=runtime)

    def hand_back(self, reason: str) -> None:
        log.info("job %s handed back: %s", self._request.id, reason, extra=self._log)
        self._request.reject(requeue=True)  # sends task-rejected
        state.task_ready(self._request)

    def dead_letter(self, reason: str, error: str) -> None:
        source = self._request.delivery_info.get("routing_key")
        try:
            dead_letter(
                self._app, self._dead_letter_queue, self.payload, reason=reason, error=error, source=source
            )
        except Exception:
            log.exception(
                "job %s: could not dead-letter it; handed back instead", self._request.id, extra=self._log
            )
            self.hand_back(reason)
            return
        log.error("job %s dead-lettered (%s): %s", self._request.id, reason, error, extra=self._log)
        self._request.send_event("task-failed", exception=f"{reason}: {error}")
        self._ack()

    def retry(self, job: ChatJob, reason: str, suspect: bool = False) -> None:
        delay = retry_delay_s(self.retries, lambda: random.uniform(0.5, 1.0))
        try:
            publish_job(self._app, job, retries=self.retries + 1, countdown=delay, suspect=suspect)
        except Exception:
            log.exception(
                "job %s: could not publish its retry; handed back instead", job.job_id, extra=self._log
            )
            self.hand_back(reason)
            return
        log.warning(
            "job %s retried (%d) in %.1f s: %s", job.job_id, self.retries + 1, delay, reason, extra=self._log
        )
        self._request.send_event("task-retried", exception=reason)
        self._ack()

    def _ack(self, successful: bool = False) -> None:
        self._request.acknowledge()
        state.task_ready(self._request, successful=successful)


class FinishInFlight(bootsteps.StartStopStep):  # type: ignore[misc]
    """A worker step between the pool and the consumer: on a warm shutdown the consumer stops
    first, then this waits for the pipeline to settle what it holds."""

    requires = ("celery.worker.components:Pool",)

    def stop(self, parent: Any) -> None:
        pipeline = getattr(parent.app, PIPELINE_ATTRIBUTE, None)
        if pipeline is not None and pipeline.held:
            log.warning("waiting for %d jobs in flight to be settled", pipeline.held)
            pipeline.wait_idle()
