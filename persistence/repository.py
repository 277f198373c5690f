"""Repository functions over the store. Every write is one transaction; answers are idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops.errors import JobNotFound
from persistence.db import SessionFactory
from persistence.models import Conversation, Job, Message
from routing.jobs import ChatAnswer, ChatJob, JobStatus, Timings, utcnow

USER = "user"
ASSISTANT = "assistant"


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation as callers see it."""

    role: str
    text: str
    language: str | None
    created_at: datetime
    job_id: str


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


def conversation_language(factory: SessionFactory, conversation_id: str) -> str | None:
    """The language the conversation was last answered in, or None for a new conversation."""
    with factory() as session:
        conversation = session.get(Conversation, conversation_id)
        return conversation.language if conversation else None


def record_user_turn(factory: SessionFactory, job: ChatJob, language_source: str) -> bool:
    """Store the user's message and its queued job; True when the conversation was created."""
    try:
        return _record_user_turn(factory, job, language_source)
    except IntegrityError:
        # Another request created the same new conversation at the same moment: it exists now.
        return _record_user_turn(factory, job, language_source)


def _record_user_turn(factory: SessionFactory, job: ChatJob, language_source: str) -> bool:
    now = utcnow()
    with factory.begin() as session:
        conversation = session.get(Conversation, job.conversation_id)
        created = conversation is None
        if conversation is None:
            conversation = Conversation(id=job.conversation_id, channel=job.channel, created_at=now)
            session.add(conversation)
        conversation.language = job.language
        conversation.updated_at = now
        session.add(_user_message(job, now))
        session.add(_queued_job(job, language_source))
    return created


def _user_message(job: ChatJob, now: datetime) -> Message:
    return Message(
        conversation_id=job.conversation_id, job_id=job.job_id, role=USER,
        text=job.text, language=job.language, created_at=now,
    )  # fmt: skip


def _queued_job(job: ChatJob, language_source: str) -> Job:
    return Job(
        job_id=job.job_id, conversation_id=job.conversation_id, status=JobStatus.QUEUED.value,
        channel=job.channel, user_ref=job.user_ref, language=job.language,
        language_source=language_source, queue=job.queue, profile=job.profile,
        created_at=job.created_at, attempts=0,
    )  # fmt: skip


def discard_unpublished(factory: SessionFactory, job: ChatJob, conversation_created: bool) -> None:
    """Undo record_user_turn for a job the broker never took, so no half-written state remains."""
    with factory.begin() as session:
        session.execute(delete(Message).where(Message.job_id == job.job_id))
        session.execute(delete(Job).where(Job.job_id == job.job_id))
        if conversation_created:
            session.execute(delete(Conversation).where(Conversation.id == job.conversation_id))


def start_job(factory: SessionFactory, job_id: str, worker: str) -> JobStatus:
    """Mark a job running (again, on redelivery); returns the status it had before."""
    return begin_job(factory, job_id, worker, history=0)[0]


def begin_job(
    factory: SessionFactory, job_id: str, worker: str, history: int
) -> tuple[JobStatus, list[Turn]]:
    """Mark a job running and read up to `history` earlier turns, in one transaction.

    Returns the status the job had before (a final one means a duplicate delivery: do nothing).
    """
    with factory.begin() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise JobNotFound(job_id)
        before = JobStatus(job.status)
        if before.final:
            return before, []
        job.status = JobStatus.RUNNING.value
        job.started_at = utcnow()
        job.attempts += 1
        job.worker = worker
        return before, _turns_before(session, job.conversation_id, job_id, history)


def recent_turns(factory: SessionFactory, conversation_id: str, before_job: str, limit: int) -> list[Turn]:
    """Up to `limit` turns of the conversation that came before the user turn of `before_job`."""
    with factory() as session:
        return _turns_before(session, conversation_id, before_job, limit)


def _turns_before(session: Session, conversation_id: str, before_job: str, limit: int) -> list[Turn]:
    if limit <= 0:
        return []
    anchor = session.scalar(select(Message.id).where(Message.job_id == before_job, Message.role == USER))
    query = select(Message).where(Message.conversation_id == conversation_id)
    if anchor is not None:
        query = query.where(Message.id < anchor)
    rows = session.scalars(query.order_by(Message.id.desc()).limit(limit)).all()
    return [_turn(row) for row in reversed(rows)]


def store_answer(factory: SessionFactory, answer: ChatAnswer) -> bool:
    """Write a job's outcome once: True when written now, False when it was already final."""
    try:
        with factory.begin() as session:
            job = session.get(Job, answer.job_id, with_for_update=True)
            if job is None:
                raise JobNotFound(answer.job_id)
            if JobStatus(job.status) == JobStatus.DONE:
                return False
            _apply_outcome(job, answer)
            if answer.status == JobStatus.DONE:
                session.add(_assistant_message(job, answer))
        return True
    except IntegrityError:
        # A duplicate delivery raced us to the assistant turn: the first write stands.
        return False


def _apply_outcome(job: Job, answer: ChatAnswer) -> None:
    job.status = answer.status.value
    job.finished_at = utcnow()
    job.error = answer.error
    job.model = answer.model
    job.batch_size = answer.batch_size
    job.worker = answer.worker or job.worker
    job.queued_ms = answer.timings.queued_ms
    job.batch_wait_ms = answer.timings.batch_wait_ms
    job.infer_ms = answer.timings.infer_ms
    job.total_ms = answer.timings.total_ms


def _assistant_message(job: Job, answer: ChatAnswer) -> Message:
    return Message(
        conversation_id=job.conversation_id, job_id=job.job_id, role=ASSISTANT,
        text=answer.text or "", language=answer.language, model=answer.model,
        prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
        created_at=utcnow(),
    )  # fmt: skip


def get_job(factory: SessionFactory, job_id: str) -> JobView | None:
    with factory() as session:
        job = session.get(Job, job_id)
        if job is None:
            return None
        answer = session.scalar(
            select(Message.text).where(Message.job_id == job_id, Message.role == ASSISTANT)
        )
        return _job_view(job, answer)


def _job_view(job: Job, answer: str | None) -> JobView:
    return JobView(
        job_id=job.job_id, conversation_id=job.conversation_id, status=JobStatus(job.status),
        language=job.language, language_source=job.language_source, queue=job.queue,
        answer=answer, error=job.error, model=job.model,
        timings=Timings(queued_ms=job.queued_ms, batch_wait_ms=job.batch_wait_ms,
                        infer_ms=job.infer_ms, total_ms=job.total_ms),
        batch_size=job.batch_size, worker=job.worker, created_at=job.created_at,
    )  # fmt: skip


def get_turns(factory: SessionFactory, conversation_id: str) -> list[Turn] | None:
    """Every turn of a conversation in order, or None when it does not exist."""
    with factory() as session:
        if session.get(Conversation, conversation_id) is None:
            return None
        rows = session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        ).all()
        return [_turn(row) for row in rows]


def _turn(row: Message) -> Turn:
    return Turn(role=row.role, text=row.text, language=row.language,
                created_at=row.created_at, job_id=row.job_id)  # fmt: skip


def fail_job(factory: SessionFactory, job_id: str, error: str) -> None:
    """Mark a job failed (when its message could not even be parsed); final jobs are left alone."""
    with factory.begin() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is not None and not JobStatus(job.status).final:
            job.status = JobStatus.FAILED.value
            job.error = error
            job.finished_at = utcnow()


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
        job.job_id, job.status, job.created_at, job.finished_at, job.queued_ms,
        job.batch_wait_ms, job.infer_ms, job.batch_size,
    )  # fmt: skip


def count_final(factory: SessionFactory, job_ids: list[str]) -> int:
    """How many of the given jobs are done, failed or expired."""
    final = [JobStatus.DONE.value, JobStatus.FAILED.value, JobStatus.EXPIRED.value]
    total = 0
    with factory() as session:
        for start in range(0, len(job_ids), 500):
            chunk = job_ids[start : start + 500]
            total += len(
                session.scalars(select(Job.job_id).where(Job.job_id.in_(chunk), Job.status.in_(final))).all()
            )
    return total
