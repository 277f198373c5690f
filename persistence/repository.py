"""Repository functions over the store. Every write is one transaction; answers are idempotent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.errors import EarlierTurnPending, JobNotFound
from core.jobs import ChatAnswer, ChatJob, JobStatus, Timings, utcnow
from persistence.db import SessionFactory, connect
from persistence.models import Conversation, Job, Message

USER = "user"
ASSISTANT = "assistant"
# The hot paths (one user turn in, one job started, one answer out) are plain SQL statements on
# these tables: the ORM's unit of work cost more CPU than the database did, per job.
_conversations = cast(Table, Conversation.__table__)
_jobs = cast(Table, Job.__table__)
_messages = cast(Table, Message.__table__)
_FINAL = [JobStatus.DONE.value, JobStatus.FAILED.value, JobStatus.EXPIRED.value]


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation as callers see it."""

    role: str
    text: str
    language: str | None
    created_at: datetime
    job_id: str
    turn_id: int = 0


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


_LANGUAGE = select(_conversations.c.language).where(_conversations.c.id == bindparam("b_id"))
_TOUCH = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("b_id"))
    .values(language=bindparam("b_language"), updated_at=bindparam("b_now"))
)
_INSERT_CONVERSATION = insert(_conversations)
_INSERT_MESSAGE = insert(_messages)
_INSERT_JOB = insert(_jobs)
_STATUS = select(_jobs.c.status).where(_jobs.c.job_id == bindparam("b_id"))
# One guarded UPDATE decides and marks at once, so two deliveries of a job cannot both start it
# from a final state (and cannot both write its answer, below).
_START = (
    update(_jobs)
    .where(_jobs.c.job_id == bindparam("b_id"), *[_jobs.c.status != final for final in _FINAL])
    .values(status=JobStatus.RUNNING.value, started_at=bindparam("b_now"), attempts=_jobs.c.attempts + 1,
            worker=bindparam("b_worker"))
    .returning(_jobs.c.conversation_id, _jobs.c.attempts)
)  # fmt: skip
_this_job = _jobs.alias("this_job")
# An earlier job of the same conversation that is not final yet (and not so long untouched that
# it must be lost): the job waits for it, so that a follow-up never overtakes the message before it.
_EARLIER_PENDING = (
    select(_jobs.c.job_id)
    .join(_this_job, _this_job.c.conversation_id == _jobs.c.conversation_id)
    .where(
        _this_job.c.job_id == bindparam("b_id"),
        _jobs.c.created_at < _this_job.c.created_at,
        # lost, presumably, if it has neither started nor been queued for so long
        func.coalesce(_jobs.c.started_at, _jobs.c.created_at) > bindparam("b_stale"),
        _jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
    )
    .limit(1)
)
_FINISH = (
    update(_jobs)
    .where(_jobs.c.job_id == bindparam("b_id"), _jobs.c.status != JobStatus.DONE.value)
    .values(worker=func.coalesce(bindparam("b_worker"), _jobs.c.worker))
    .returning(_jobs.c.conversation_id)
)
_MARK_CACHED = update(_jobs).where(_jobs.c.job_id == bindparam("b_id")).values(cached=True)
_anchor = _messages.alias("anchor")
_turn_columns = [_messages.c[name] for name in ("role", "text", "language", "created_at", "job_id", "id")]
_HISTORY = (
    select(*_turn_columns)
    .where(
        _messages.c.conversation_id == bindparam("b_conversation"),
        # Turns before the job's own user turn (all of them if it has none).
        _messages.c.id < func.coalesce(
            select(_anchor.c.id)
            .where(_anchor.c.job_id == bindparam("b_job"), _anchor.c.role == USER)
            .scalar_subquery(),
            2**62,
        ),
    )
    .order_by(_messages.c.id.desc())
    .limit(bindparam("b_limit"))
)  # fmt: skip


def conversation_language(factory: SessionFactory, conversation_id: str) -> str | None:
    """The language the conversation was last answered in, or None for a new conversation."""
    with connect(factory) as connection:
        return connection.execute(_LANGUAGE, {"b_id": conversation_id}).scalar()


def record_user_turn(
    factory: SessionFactory, job: ChatJob, language_source: str, *, new_conversation: bool = False
) -> bool:
    """Store the user's message and its queued job; True when the conversation was created.

    `new_conversation` says the caller has just made the conversation id up, so there is nothing
    to update first.
    """
    return record_user_turns(factory, [(job, language_source, new_conversation)])[0]


UserTurn = tuple[ChatJob, str, bool]


def record_user_turns(factory: SessionFactory, turns: Sequence[UserTurn]) -> list[bool]:
    """record_user_turn for several jobs, in one transaction (see persistence.db.GroupCommit)."""
    try:
        return _record_user_turns(factory, turns, assume_new=True)
    except IntegrityError:
        # Another request created the same new conversation at the same moment: it exists now.
        return _record_user_turns(factory, turns, assume_new=False)


def _record_user_turns(factory: SessionFactory, turns: Sequence[UserTurn], assume_new: bool) -> list[bool]:
    now = utcnow()
    with connect(factory, write=True) as connection:
        return [_record_turn(connection, turn, assume_new, now) for turn in turns]


def _record_turn(connection: Connection, turn: UserTurn, assume_new: bool, now: datetime) -> bool:
    job, source, new_conversation = turn
    touch = {"b_id": job.conversation_id, "b_language": job.language, "b_now": now}
    is_new = (new_conversation and assume_new) or connection.execute(_TOUCH, touch).rowcount == 0
    if is_new:
        connection.execute(_INSERT_CONVERSATION, {
            "id": job.conversation_id, "channel": job.channel, "language": job.language,
            "created_at": now, "updated_at": now,
        })  # fmt: skip
    connection.execute(_INSERT_MESSAGE, _user_message(job, now))
    connection.execute(_INSERT_JOB, _queued_job(job, source))
    return is_new


def record_cached_answer(factory: SessionFactory, turn: UserTurn, answer: ChatAnswer) -> bool:
    """A first question answered from the cache: its user turn, its job (done, cached) and the
    assistant turn, in one transaction — stored like any other answered job. Only when this
    transaction creates the conversation: then no other turn of it can exist or race this one.
    False (and nothing stored) when the conversation exists already."""
    try:
        with connect(factory, write=True) as connection:
            if not _record_turn(connection, turn, assume_new=turn[2], now=utcnow()):
                raise _ConversationExists  # roll the user turn back
            _store(connection, answer)
            connection.execute(_MARK_CACHED, {"b_id": answer.job_id})
        return True
    except (_ConversationExists, IntegrityError):  # IntegrityError: a concurrent request created it first
        return False


class _ConversationExists(Exception):
    pass


def _user_message(job: ChatJob, now: datetime) -> dict[str, Any]:
    return {
        "conversation_id": job.conversation_id, "job_id": job.job_id, "role": USER,
        "text": job.text, "language": job.language, "created_at": now,
    }  # fmt: skip


def _queued_job(job: ChatJob, language_source: str) -> dict[str, Any]:
    return {
        "job_id": job.job_id, "conversation_id": job.conversation_id, "status": JobStatus.QUEUED.value,
        "channel": job.channel, "user_ref": job.user_ref, "language": job.language,
        "language_source": language_source, "queue": job.queue, "profile": job.profile,
        "created_at": job.created_at, "attempts": 0, "published_at": job.created_at,
    }  # fmt: skip


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


Begun = tuple[JobStatus, list[Turn]]


def begin_job(factory: SessionFactory, job_id: str, worker: str, history: int) -> Begun:
    """Mark a job running and read up to `history` earlier turns, in one transaction.

    Returns the status the job had before (a final one means a duplicate delivery: do nothing).
    """
    outcome = begin_jobs(factory, [(job_id, worker)], history)[0]
    if isinstance(outcome, JobNotFound | EarlierTurnPending):
        raise outcome
    return outcome


def begin_jobs(
    factory: SessionFactory, starts: Sequence[tuple[str, str]], history: int, order_wait_s: float = 300.0
) -> list[Begun | JobNotFound | EarlierTurnPending]:
    """begin_job for several (job_id, worker) in one transaction; an unknown job gets its
    JobNotFound, and a job whose conversation has an earlier job still unfinished (younger than
    `order_wait_s`) gets EarlierTurnPending and is left as it was."""
    stale = utcnow() - timedelta(seconds=order_wait_s)
    with connect(factory, write=True) as connection:
        return [_begin(connection, job_id, worker, history, stale) for job_id, worker in starts]


def _begin(
    connection: Connection, job_id: str, worker: str, history: int, stale: datetime
) -> Begun | JobNotFound | EarlierTurnPending:
    earlier = connection.execute(_EARLIER_PENDING, {"b_id": job_id, "b_stale": stale}).scalar()
    if earlier is not None:
        return EarlierTurnPending(f"job {job_id} waits for the earlier job {earlier} of its conversation")
    row = connection.execute(_START, {"b_id": job_id, "b_now": utcnow(), "b_worker": worker}).first()
    if row is None:
        status = connection.execute(_STATUS, {"b_id": job_id}).scalar()
        return JobNotFound(job_id) if status is None else (JobStatus(status), [])
    # Only begin_job moves a job off `queued`, and it counts attempts: the first start was from
    # `queued`, any later one a redelivery of a job left `running`.
    before = JobStatus.QUEUED if row.attempts == 1 else JobStatus.RUNNING
    return before, _turns_before(connection, row.conversation_id, job_id, history)


def _turns_before(connection: Connection, conversation_id: str, before_job: str, limit: int) -> list[Turn]:
    if limit <= 0:
        return []
    params = {"b_conversation": conversation_id, "b_job": before_job, "b_limit": limit}
    rows = connection.execute(_HISTORY, params).all()
    return [Turn(*row) for row in reversed(rows)]


def store_answer(factory: SessionFactory, answer: ChatAnswer) -> bool:
    """Write a job's outcome once: True when written now, False when it was already final."""
    outcome = store_answers(factory, [answer])[0]
    if isinstance(outcome, JobNotFound):
        raise outcome
    return outcome


def store_answers(factory: SessionFactory, answers: Sequence[ChatAnswer]) -> list[bool | JobNotFound]:
    """store_answer for several answers in one transaction; an unknown job gets its JobNotFound back."""
    try:
        with connect(factory, write=True) as connection:
            return [_store(connection, answer) for answer in answers]
    except IntegrityError:
        if len(answers) == 1:
            # A duplicate delivery raced us to the assistant turn: the first write stands.
            return [False]
        return [store_answers(factory, [answer])[0] for answer in answers]


def _store(connection: Connection, answer: ChatAnswer) -> bool | JobNotFound:
    conversation_id = connection.execute(_FINISH, _outcome(answer)).scalar()
    if conversation_id is None:
        exists = connection.execute(_STATUS, {"b_id": answer.job_id}).first()
        return False if exists else JobNotFound(answer.job_id)
    if answer.status == JobStatus.DONE:
        connection.execute(_INSERT_MESSAGE, _assistant_message(conversation_id, answer))
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


_answer = _messages.alias("answer")
_JOB_VIEW = (
    select(_jobs, _answer.c.text.label("answer"))
    .outerjoin(_answer, (_answer.c.job_id == _jobs.c.job_id) & (_answer.c.role == ASSISTANT))
    .where(_jobs.c.job_id == bindparam("b_id"))
)


def get_job(factory: SessionFactory, job_id: str) -> JobView | None:
    with connect(factory) as connection:
        row = connection.execute(_JOB_VIEW, {"b_id": job_id}).first()
    return None if row is None else _job_view(row)


def _job_view(job: Any) -> JobView:
    return JobView(
        job_id=job.job_id, conversation_id=job.conversation_id, status=JobStatus(job.status),
        language=job.language, language_source=job.language_source, queue=job.queue,
        answer=job.answer, error=job.error, model=job.model,
        timings=Timings(queued_ms=job.queued_ms, batch_wait_ms=job.batch_wait_ms,
                        infer_ms=job.infer_ms, total_ms=job.total_ms),
        batch_size=job.batch_size, worker=job.worker, created_at=job.created_at, cached=bool(job.cached),
    )  # fmt: skip


def get_turns(factory: SessionFactory, conversation_id: str) -> list[Turn] | None:
    """Every turn of a conversation in order, or None when it does not exist."""
    page = get_turns_page(factory, conversation_id, limit=None)
    return None if page is None else page[0]


def get_turns_page(
    factory: SessionFactory, conversation_id: str, limit: int | None, before: int | None = None
) -> tuple[list[Turn], int | None] | None:
    """The latest `limit` turns before turn id `before` (all when None), oldest first, and the
    cursor for the page before them (None when there is none); None for an unknown conversation."""
    with factory() as session:
        if session.get(Conversation, conversation_id) is None:
            return None
        query = select(Message).where(Message.conversation_id == conversation_id)
        if before is not None:
            query = query.where(Message.id < before)
        query = query.order_by(Message.id.desc())
        rows = session.scalars(query if limit is None else query.limit(limit + 1)).all()
        more = limit is not None and len(rows) > limit
        page = [_turn(row) for row in reversed(rows[:limit] if more else rows)]
        return page, (page[0].turn_id if more else None)


def _turn(row: Message) -> Turn:
    return Turn(role=row.role, text=row.text, language=row.language,
                created_at=row.created_at, job_id=row.job_id, turn_id=row.id)  # fmt: skip


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


def unfinished_jobs(factory: SessionFactory) -> list[ChatJob]:
    """Jobs still queued or running, rebuilt from the store (to re-publish after a restart of the
    embedded stack, whose in-memory broker lost them)."""
    statuses = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]
    query = (
        select(Job, Message.text)
        .join(Message, (Message.job_id == Job.job_id) & (Message.role == USER))
        .where(Job.status.in_(statuses))
        .order_by(Job.created_at)
    )
    with factory() as session:
        return [_chat_job(job, text) for job, text in session.execute(query).all()]


def claim_unstarted(factory: SessionFactory, older_than: timedelta, limit: int = 100) -> list[ChatJob]:
    """Jobs published longer than `older_than` ago and still not started — a broker may have
    lost them (Redis loses a message popped by a worker killed before it noted it as unacked) —
    claimed for re-publishing: their publish time moves to now in the same transaction, so one
    process re-publishes each (rows locked, others skipped, on PostgreSQL). A copy that arrives
    twice is harmless: answers are stored once."""
    cutoff = utcnow() - older_than
    stalled = (
        select(Job, Message.text)
        .join(Message, (Message.job_id == Job.job_id) & (Message.role == USER))
        .where(Job.status == JobStatus.QUEUED.value, func.coalesce(Job.published_at, Job.created_at) < cutoff)
        .order_by(Job.created_at)
        .limit(limit)
        .with_for_update(of=Job, skip_locked=True)
    )
    with factory.begin() as session:
        rows = session.execute(stalled).all()
        for job, _text in rows:
            job.published_at = utcnow()
        return [_chat_job(job, text) for job, text in rows]


def _chat_job(job: Job, text: str) -> ChatJob:
    return ChatJob(
        job_id=job.job_id, conversation_id=job.conversation_id, channel=job.channel, user_ref=job.user_ref,
        text=text, language=job.language, queue=job.queue, profile=job.profile, created_at=job.created_at,
    )  # fmt: skip
