"""Jobs' outcomes written into the store: their final fields and, when done, the assistant turns.
Written once: a second delivery of the same answer finds the job done and changes nothing.

A batch of outcomes costs three statements whatever its size (lock the jobs, update them, insert
the turns), not two per job: the worker stores a whole micro-batch's answers at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from core.errors import JobNotFound
from core.jobs import ChatAnswer, JobStatus, utcnow
from persistence.tables import ASSISTANT, INSERT_MESSAGE, jobs

# The rows are locked (on PostgreSQL) until the transaction ends, so the statuses read here stay
# true for the updates below; the update keeps its own guard for SQLite's sake.
_LOCK_JOBS = (
    select(jobs.c.job_id, jobs.c.conversation_id, jobs.c.status)
    .where(jobs.c.job_id.in_(bindparam("b_ids", expanding=True)))
    .with_for_update()
)
_FINISH = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("b_id"), jobs.c.status != JobStatus.DONE.value)
    .values(worker=func.coalesce(bindparam("b_worker"), jobs.c.worker))
)


def write_outcome(connection: Connection, answer: ChatAnswer) -> bool | JobNotFound:
    """One job's outcome inside the caller's transaction (see write_outcomes)."""
    return write_outcomes(connection, [answer])[0]


def write_outcomes(connection: Connection, answers: Sequence[ChatAnswer]) -> list[bool | JobNotFound]:
    """Each job's outcome (and, when done, its assistant turn) inside the caller's transaction, in
    order: True when written now, False when the job was already done, JobNotFound when unknown."""
    ids = list(dict.fromkeys(answer.job_id for answer in answers))
    rows = connection.execute(_LOCK_JOBS, {"b_ids": ids})
    found = {row.job_id: (row.conversation_id, row.status) for row in rows}
    results: list[bool | JobNotFound] = []
    updates: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for answer in answers:
        row = found.get(answer.job_id)
        if row is None or row[1] == JobStatus.DONE.value:
            results.append(JobNotFound(answer.job_id) if row is None else False)
            continue
        # A later answer of the same job in this batch sees this one as written (as it would in
        # its own transaction): after a `done` it changes nothing.
        found[answer.job_id] = (row[0], answer.status.value)
        updates.append(_outcome(answer))
        if answer.status == JobStatus.DONE:
            turns.append(_assistant_message(row[0], answer))
        results.append(True)
    if updates:
        connection.execute(_FINISH, updates)
    if turns:
        connection.execute(INSERT_MESSAGE, turns)
    return results


def _outcome(answer: ChatAnswer) -> dict[str, Any]:
    timings = answer.timings
    return {
        "b_id": answer.job_id,
        "b_worker": answer.worker or None,
        "status": answer.status.value,
        "finished_at": utcnow(),
        "error": answer.error,
        "model": answer.model,
        "batch_size": answer.batch_size,
        "queued_ms": timings.queued_ms,
        "batch_wait_ms": timings.batch_wait_ms,
        "infer_ms": timings.infer_ms,
        "total_ms": timings.total_ms,
    }


def _assistant_message(conversation_id: str, answer: ChatAnswer) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "job_id": answer.job_id,
        "role": ASSISTANT,
        "text": answer.text or "",
        "language": answer.language,
        "model": answer.model,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "created_at": utcnow(),
    }
