"""After a worker stores the outcome of a job from a channel that pushes answers (a webhook
chat, see BABELQ_CHANNELS_FILE), it asks for the push (DELIVER_TASK): the deliverer, not the
GPU process, makes the HTTP calls."""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Celery

from core.errors import PublishError
from core.jobs import ChatAnswer, ChatJob, log_fields
from transport.queues import publish_delivery

log = logging.getLogger(__name__)
Answered = Callable[[ChatJob, ChatAnswer], None]


def delivery_requester(app: Celery, delivering: frozenset[str]) -> Answered | None:
    """The pipeline's on_answered hook for the channels in `delivering` (None: none deliver)."""
    if not delivering:
        return None

    def request(job: ChatJob, _answer: ChatAnswer) -> None:
        if job.channel not in delivering:
            return
        try:
            publish_delivery(app, job.job_id)
        except PublishError as exc:  # the answer is stored; the webhook's own check may still ask
            log.error(
                "could not ask for the delivery of job %s: %s",
                job.job_id,
                exc,
                extra=log_fields(job.job_id, job.queue),
            )

    return request


def chained(*hooks: Answered | None) -> Answered | None:
    """One on_answered hook calling each given one in turn."""
    present = [hook for hook in hooks if hook is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def each(job: ChatJob, answer: ChatAnswer) -> None:
        for hook in present:
            hook(job, answer)

    return each
