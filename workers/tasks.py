"""The Celery task: a thin adapter from a broker message to the Responder."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from ops.errors import InvalidInput
from persistence import repository
from routing.jobs import ChatJob
from routing.queues import ANSWER_TASK
from workers.responder import Responder

log = logging.getLogger(__name__)


def register_tasks(app: Celery, responder: Callable[[], Responder]) -> None:
    """Register the chat task on a worker's app; `responder` gives this process's Responder."""

    @app.task(name=ANSWER_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def answer_chat(self: Task, payload: dict[str, Any]) -> str | None:
        worker = str(self.request.hostname or "worker")
        try:
            job = ChatJob.from_wire(payload)
        except InvalidInput as exc:
            _reject_malformed(responder(), payload, exc)
            return None
        answer = responder().answer(job, worker)
        return answer.status.value if answer else None


def _reject_malformed(responder: Responder, payload: dict[str, Any], exc: InvalidInput) -> None:
    log.error("rejected a malformed job: %s", exc)
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    if isinstance(job_id, str):
        repository.fail_job(responder.session_factory, job_id, str(exc))
