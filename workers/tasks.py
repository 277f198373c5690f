"""The chat task, registered on a worker's app: its messages never run in Celery's pool.

Its Strategy hands each message to the worker's JobPipeline (see bulk_consumer), which answers jobs
in bulk and settles each message on its own: acked when its answer is stored (or the job is
already final, unknown, or malformed: then failed in the store), handed back untouched when this
worker refuses work (breaker open, shutting down, an earlier turn of the conversation still
pending, the store down), retried as a new message when the model failed (up to `max_retries`,
then stored failed).
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task

from core.errors import ConfigurationError
from transport.queues import ANSWER_TASK
from workers.bulk_consumer import STRATEGY, FinishInFlight


def register_tasks(app: Celery) -> None:
    """Register the chat task (consumed in bulk) and the step that finishes it on shutdown."""

    @app.task(name=ANSWER_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, Strategy=STRATEGY)  # type: ignore[untyped-decorator]
    def answer_chat(self: Task, payload: dict[str, Any]) -> None:
        raise ConfigurationError("chat jobs are answered by `babelq worker`'s pipeline, not run as a task")

    app.steps["worker"].add(FinishInFlight)
