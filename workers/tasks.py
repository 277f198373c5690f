"""The Celery task: a thin adapter from a broker message to the Responder.

Outcomes: answered (acked); the job's own fault (stored failed, acked); the model failed
(retried as a new message, up to `max_retries`, then stored failed); this worker refuses work
now (breaker open, shutting down): rejected with requeue, so the untouched job goes back to the
broker for another worker.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject

from core.errors import EarlierTurnPending, InvalidInput, ModelFailed, WorkerUnavailable
from core.jobs import ChatAnswer, ChatJob
from persistence import job_lifecycle
from transport.queues import ANSWER_TASK
from workers.responder import Responder

log = logging.getLogger(__name__)
ORDER_RECHECK_S = 0.2


def register_tasks(
    app: Celery, responder: Callable[[], Responder], max_retries: int, track: Callable[[], Any] | None = None
) -> None:
    """Register the chat task on a worker's app; `responder` gives this process's Responder and
    `track` a context manager that counts the job as in flight."""

    @app.task(name=ANSWER_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def answer_chat(self: Task, payload: dict[str, Any]) -> str | None:
        worker = str(self.request.hostname or "worker")
        try:
            job = ChatJob.from_wire(payload)
        except InvalidInput as exc:
            _reject_malformed(responder(), payload, exc)
            return None
        with track() if track is not None else contextlib.nullcontext():
            answer = _answer(self, responder(), job, worker, max_retries)
        return answer.status.value if answer else None


def _answer(
    task: Task, responder: Responder, job: ChatJob, worker: str, max_retries: int
) -> ChatAnswer | None:
    try:
        return responder.answer(job, worker)
    except WorkerUnavailable as exc:
        if isinstance(exc, EarlierTurnPending):
            time.sleep(ORDER_RECHECK_S)  # it may be back at once (RabbitMQ): do not spin on it
        raise Reject(str(exc), requeue=True) from exc
    except ModelFailed as exc:
        if task.request.retries < max_retries:
            # a new message on the same queue, so that another (healthy) worker may take it
            raise task.retry(exc=exc, countdown=0, max_retries=max_retries) from exc
        return responder.fail(job, worker, f"{exc} (after {task.request.retries + 1} attempts)")


def _reject_malformed(responder: Responder, payload: dict[str, Any], exc: InvalidInput) -> None:
    log.error("rejected a malformed job: %s", exc)
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    if isinstance(job_id, str):
        job_lifecycle.fail_job(responder.session_factory, job_id, str(exc))
