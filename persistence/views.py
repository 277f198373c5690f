"""What readers see: a job with its answer, a conversation's turns page by page, benchmark timings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from core.jobs import JobStatus, Timings
from persistence.db import SessionFactory, connect
from persistence.models import Conversation, Job, Message
from persistence.tables import ASSISTANT, FINAL_STATUSES, USER, jobs, messages


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation as callers see it."""

    role: str
    text: str
    language: str | None
    created_at: datetime
    job_id: str
    turn_id: int = 0
    queue: str | None = None  # the queue its job went to


@dataclass(frozen=True)
class JobView:
    """A job and, when done, its answer."""

    job_id: str
    conversation_id: str
    status: JobStatus
    language: str
    language_source: str
    queue: str
    answer: str | None
    error: str | None
    model: str | None
    timings: Timings
    batch_size: int | None
    worker: str | None
    created_at: datetime
    cached: bool = False
    deadline_at: datetime | None = None
    channel: str = ""
    user_ref: str | None = None


_answer = messages.alias("answer")
_JOB_VIEW = (
    select(jobs, _answer.c.text.label("answer"))
    .outerjoin(_answer, (_answer.c.job_id == jobs.c.job_id) & (_answer.c.role == ASSISTANT))
    .where(jobs.c.job_id == bindparam("b_id"))
)


def get_job(factory: SessionFactory, job_id: str) -> JobView | None:
    with connect(factory) as connection:
        row = connection.execute(_JOB_VIEW, {"b_id": job_id}).first()
    return None if row is None else _job_view(row)


def _job_view(job: Any) -> JobView:
    return JobView(
        job_id=job.job_id,
        conversation_id=job.conversation_id,
        status=JobStatus(job.status),
        language=job.language,
        language_source=job.language_source,
        queue=job.queue,
        answer=job.answer,
        error=job.error,
        model=job.model,
        timings=Timings(
            queued_ms=job.queued_ms,
            batch_wait_ms=job.batch_wait_ms,
            infer_ms=job.infer_ms,
            total_ms=job.total_ms,
        ),
        batch_size=job.batch_size,
        worker=job.worker,
        created_at=job.created_at,
        cached=bool(job.cached),
        deadline_at=job.deadline_at,
        channel=job.channel,
        user_ref=job.user_ref,
    )


def conversation_owner(factory: SessionFactory, conversation_id: str) -> tuple[str, str | None] | None:
    """The channel a conversation belongs to (the one its first message came from) and the
    visitor session that made it (None: the channel's integration); None when there is none."""
    with connect(factory) as connection:
        row = connection.execute(
            select(Conversation.channel, Conversation.visitor).where(Conversation.id == conversation_id)
        ).first()
    return None if row is None else (row.channel, row.visitor)


def get_turns_page(
    factory: SessionFactory, conversation_id: str, limit: int | None, before: int | None = None
) -> tuple[list[Turn], int | None] | None:
    """The latest `limit` turns before turn id `before` (all when None), oldest first, and the
    cursor for the page before them (None when there is none); None for an unknown conversation."""
    with factory() as session:
        if session.get(Conversation, conversation_id) is None:
            return None
        query = (
            select(Message, Job.queue)
            .outerjoin(Job, Job.job_id == Message.job_id)
            .where(Message.conversation_id == conversation_id)
        )
        if before is not None:
            query = query.where(Message.id < before)
        query = query.order_by(Message.id.desc())
        rows = session.execute(query if limit is None else query.limit(limit + 1)).all()
        more = limit is not None and len(rows) > limit
        page = [_turn(row, queue) for row, queue in reversed(rows[:limit] if more else rows)]
        return page, (page[0].turn_id if more else None)


def _turn(row: Message, queue: str | None = None) -> Turn:
    return Turn(
        role=row.role,
        text=row.text,
        language=row.language,
        created_at=row.created_at,
        job_id=row.job_id,
        turn_id=row.id,
        queue=queue,
    )


@dataclass(frozen=True)
class JobTiming:
    """The timing facts of one job, for benchmarks."""

    job_id: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    queued_ms: float | None
    batch_wait_ms: float | None
    infer_ms: float | None
    batch_size: int | None


def job_timings(factory: SessionFactory, job_ids: list[str]) -> list[JobTiming]:
    """Timing rows of the given jobs (in chunks, so thousands of ids stay one cheap query each)."""
    rows: list[JobTiming] = []
    with factory() as session:
        for start in range(0, len(job_ids), 500):
            query = select(Job).where(Job.job_id.in_(job_ids[start : start + 500]))
            rows.extend(_timing(job) for job in session.scalars(query))
    return rows


def _timing(job: Job) -> JobTiming:
    return JobTiming(
        job.job_id,
        job.status,
        job.created_at,
        job.finished_at,
        job.queued_ms,
        job.batch_wait_ms,
        job.infer_ms,
        job.batch_size,
    )


def count_final(factory: SessionFactory, job_ids: list[str]) -> int:
    """How many of the given jobs are done, failed or expired."""
    return len(final_among(factory, job_ids))


def final_among(factory: SessionFactory, job_ids: list[str]) -> set[str]:
    """Those of the given jobs that are done, failed or expired."""
    final: set[str] = set()
    with factory() as session:
        for start in range(0, len(job_ids), 500):
            chunk = job_ids[start : start + 500]
            query = select(Job.job_id).where(Job.job_id.in_(chunk), Job.status.in_(FINAL_STATUSES))
            final.update(session.scalars(query).all())
    return final


@dataclass(frozen=True)
class Finished:
    """A job that ended: its queue, status and seconds from accepted to ended."""

    queue: str
    status: str
    seconds: float


def finished_since(factory: SessionFactory, since: datetime, limit: int = 100_000) -> list[Finished]:
    """The jobs that ended after `since` (for `babelq top`'s rates and latency percentiles)."""
    query = (
        select(jobs.c.queue, jobs.c.status, jobs.c.created_at, jobs.c.finished_at)
        .where(jobs.c.finished_at > since, jobs.c.status.in_(FINAL_STATUSES))
        .limit(limit)
    )
    with connect(factory) as connection:
        rows = connection.execute(query).all()
    return [Finished(r.queue, r.status, (r.finished_at - r.created_at).total_seconds()) for r in rows]


@dataclass(frozen=True)
class HandedJob:
    """A job waiting for a person, with the customer's message."""

    job_id: str
    conversation_id: str
    channel: str
    user_ref: str | None
    language: str
    text: str
    created_at: datetime


def handed_jobs(factory: SessionFactory, queue: str, channel: str | None, limit: int) -> list[HandedJob]:
    """The queued jobs of `queue` (the people's), oldest first; only `channel`'s when given."""
    query = (
        select(Job, Message.text)
        .join(Message, (Message.job_id == Job.job_id) & (Message.role == USER))
        .where(Job.queue == queue, Job.status == JobStatus.QUEUED.value)
        .order_by(Job.created_at)
        .limit(limit)
    )
    if channel is not None:
        query = query.where(Job.channel == channel)
    with factory() as session:
        rows = session.execute(query).all()
    return [
        HandedJob(
            job.job_id, job.conversation_id, job.channel, job.user_ref, job.language, text, job.created_at
        )
        for job, text in rows
    ]
