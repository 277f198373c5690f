"""A job's outcome written into the store: its final fields and, when done, the assistant turn.
Written once: a second delivery of the same answer finds the job final and changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, update

from core.errors import JobNotFound
from core.jobs import ChatAnswer, JobStatus, utcnow
from persistence.tables import ASSISTANT, INSERT_MESSAGE, JOB_STATUS, jobs

_FINISH = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("b_id"), jobs.c.status != JobStatus.DONE.value)
    .values(worker=func.coalesce(bindparam("b_worker"), jobs.c.worker))
    .returning(jobs.c.conversation_id)
)


def write_outcome(connection: Connection, answer: ChatAnswer) -> bool | JobNotFound:
    """One job's outcome (and, when done, its assistant turn) inside the caller's transaction."""
    conversation_id = connection.execute(_FINISH, _outcome(answer)).scalar()
    if conversation_id is None:
        exists = connection.execute(JOB_STATUS, {"b_id": answer.job_id}).first()
        return False if exists else JobNotFound(answer.job_id)
    if answer.status == JobStatus.DONE:
        connection.execute(INSERT_MESSAGE, _assistant_message(conversation_id, answer))
    return True


def _outcome(answer: ChatAnswer) -> dict[str, Any]:
    timings = answer.timings
    return {
        "b_id": answer.job_id, "b_worker": answer.worker or None,
        "status": answer.status.value, "finished_at": utcnow(), "error": answer.error,
        "model": answer.model, "batch_size": answer.batch_size,
        "queued_ms": timings.queued_ms, "batch_wait_ms": timings.batch_wait_ms,
        "infer_ms": timings.infer_ms, "total_ms": timings.total_ms,
    }  # fmt: skip


def _assistant_message(conversation_id: str, answer: ChatAnswer) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id, "job_id": answer.job_id, "role": ASSISTANT,
        "text": answer.text or "", "language": answer.language, "model": answer.model,
        "prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
        "created_at": utcnow(),
    }  # fmt: skip
