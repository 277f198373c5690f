"""A job's life on the worker side: started (with its conversation's earlier turns), answered
once, failed, or found again when a broker may have lost its message. Every write is one
transaction; an answer is idempotent by job_id."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, Connection, Select, bindparam, exists, func, select, update
from sqlalchemy.exc import DataError, IntegrityError

from core.errors import EarlierTurnPending, JobNotFound
from core.jobs import ChatAnswer, ChatJob, JobStatus, utcnow
from persistence.db import SessionFactory, connect
from persistence.models import Job, Message, WorkerBeat
from persistence.outcomes import write_outcomes
from persistence.tables import FINAL_STATUSES, JOB_STATUS, USER, jobs, messages
from persistence.views import Turn

# One guarded UPDATE decides and marks at once, so two deliveries of a job cannot both start it
# from a final state (persistence/outcomes.py guards an answer the same way).
_START = (
    update(jobs)
    .where(
        jobs.c.job_id.in_(bindparam("b_ids", expanding=True)),
        *[jobs.c.status != final for final in FINAL_STATUSES],
    )
    .values(
        status=JobStatus.RUNNING.value,
        started_at=bindparam("b_now"),
        attempts=jobs.c.attempts + 1,
        worker=bindparam("b_worker"),
    )
    .returning(jobs.c.job_id, jobs.c.conversation_id, jobs.c.attempts)
)
_STATUSES = select(jobs.c.job_id, jobs.c.status).where(jobs.c.job_id.in_(bindparam("b_ids", expanding=True)))
_this_job = jobs.alias("this_job")
# For each job, an earlier job of the same conversation that is not final yet: the job waits for
# it, so that a follow-up never overtakes the message before it. Not for ever: an earlier job on a
# dead worker is run again within a minute (claim_orphans), one whose message a broker lost is
# published again (claim_unstarted), and every job ends by its deadline (expire_overdue).
_EARLIER_PENDING = (
    select(_this_job.c.job_id, func.min(jobs.c.job_id))
    .join(_this_job, _this_job.c.conversation_id == jobs.c.conversation_id)
    .where(
        _this_job.c.job_id.in_(bindparam("b_ids", expanding=True)),
        jobs.c.created_at < _this_job.c.created_at,
        jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
    )
    .group_by(_this_job.c.job_id)
)
_TURN_FIELDS = ("role", "text", "language", "created_at", "job_id", "id")
_anchor = messages.alias("anchor")
_own_turn = (
    select(_anchor.c.id).where(_anchor.c.job_id == jobs.c.job_id, _anchor.c.role == USER).scalar_subquery()
)
# Every earlier turn of each job's conversation, numbered from the latest back, per job.
_ranked = (
    select(
        jobs.c.job_id.label("for_job"),
        *[messages.c[name] for name in _TURN_FIELDS],
        func.row_number().over(partition_by=jobs.c.job_id, order_by=messages.c.id.desc()).label("back"),
    )
    .join(messages, messages.c.conversation_id == jobs.c.conversation_id)
    .where(
        jobs.c.job_id.in_(bindparam("b_ids", expanding=True)),
        # Turns before the job's own user turn (all of them if it has none).
        messages.c.id < func.coalesce(_own_turn, 2**62),
    )
    .subquery()
)
_HISTORIES = (
    select(
        *[_ranked.c[name] for name in ("for_job", "role", "text", "language", "created_at", "job_id", "id")]
    )
    .where(_ranked.c.back <= bindparam("b_limit"))
    .order_by(_ranked.c.for_job, _ranked.c.id)
)


class Begun(NamedTuple):
    """A job begun: marked running, unless it was final already. A named tuple rather than a
    dataclass because the tests' one-job store helpers read it by position."""

    before: JobStatus  # its status before this start; a final one: a duplicate delivery, left alone
    history: list[Turn]  # its conversation's turns before its own


Start = Begun | JobNotFound | EarlierTurnPending
"""What beginning a job gives: begun, or the store's refusal, as the error it is. The rest of a
job's passage through a worker is in workers/outcomes.py."""
Started = tuple[str, int]  # the job's conversation, and its attempts counting this one


def begin_jobs(factory: SessionFactory, starts: Sequence[tuple[str, str]], history: int) -> list[Start]:
    """Mark each (job_id, worker) running and read up to `history` earlier turns, in one
    transaction of a few statements whatever the number of jobs. An unknown job gets its
    JobNotFound, and a job whose conversation has an earlier job still unfinished gets
    EarlierTurnPending and is left as it was."""
    ids = list(dict.fromkeys(job_id for job_id, _ in starts))
    with connect(factory, write=True) as connection:
        waiting = dict(connection.execute(_EARLIER_PENDING, {"b_ids": ids}).tuples().all())
        started = _start(connection, [(job_id, w) for job_id, w in starts if job_id not in waiting])
        unstarted = [job_id for job_id in ids if job_id not in waiting and job_id not in started]
        others = dict(connection.execute(_STATUSES, {"b_ids": unstarted}).tuples().all()) if unstarted else {}
        turns = _turns_before(connection, {job_id: conv for job_id, (conv, _) in started.items()}, history)
    return [_begun(job_id, waiting, started, others, turns) for job_id, _ in starts]


def _start(connection: Connection, starts: Sequence[tuple[str, str]]) -> dict[str, Started]:
    """Mark the jobs running (those not final), one statement per worker name (one, in practice)."""
    by_worker: dict[str, list[str]] = {}
    for job_id, worker in starts:
        by_worker.setdefault(worker, []).append(job_id)
    started: dict[str, Started] = {}
    for worker, ids in by_worker.items():
        params = {"b_ids": list(dict.fromkeys(ids)), "b_now": utcnow(), "b_worker": worker}
        for row in connection.execute(_START, params):
            started[row.job_id] = (row.conversation_id, row.attempts)
    return started


def _begun(
    job_id: str,
    waiting: dict[str, str],
    started: dict[str, Started],
    others: dict[str, str],
    turns: dict[str, list[Turn]],
) -> Start:
    if job_id in waiting:
        earlier = waiting[job_id]
        return EarlierTurnPending(f"job {job_id} waits for the earlier job {earlier} of its conversation")
    if job_id in started:
        # Only begin_jobs moves a job off `queued`, and it counts attempts: the first start was
        # from `queued`, any later one a redelivery of a job left `running`.
        before = JobStatus.QUEUED if started[job_id][1] == 1 else JobStatus.RUNNING
        return Begun(before, turns.get(job_id, []))
    return JobNotFound(job_id) if job_id not in others else Begun(JobStatus(others[job_id]), [])


def _turns_before(connection: Connection, conversations: dict[str, str], limit: int) -> dict[str, list[Turn]]:
    """Each job's last `limit` turns before its own user turn (all of them if it has none), for
    every job in one statement."""
    if limit <= 0 or not conversations:
        return {}
    turns: dict[str, list[Turn]] = {job_id: [] for job_id in conversations}
    for for_job, *row in connection.execute(_HISTORIES, {"b_ids": list(conversations), "b_limit": limit}):
        turns[for_job].append(Turn(*row))
    return turns


def store_answers(factory: SessionFactory, answers: Sequence[ChatAnswer]) -> list[bool | JobNotFound]:
    """Write each job's outcome once, in one transaction: True when written now, False when it was
    already final; an unknown job gets its JobNotFound back."""
    try:
        with connect(factory, write=True) as connection:
            return write_outcomes(connection, answers)
    except IntegrityError:
        if len(answers) == 1:
            # A duplicate delivery raced us to the assistant turn: the first write stands.
            return [False]
        return [store_answers(factory, [answer])[0] for answer in answers]
    except DataError as exc:
        # One answer the store refuses (a value it cannot hold) must not keep the others from
        # being stored: each alone, and the one refused is stored failed, with why.
        if len(answers) > 1:
            return [store_answers(factory, [answer])[0] for answer in answers]
        refused = answers[0].model_copy(
            update={
                "status": JobStatus.FAILED,
                "text": None,
                "error": f"its answer could not be stored: {exc.orig}",
            }
        )
        with connect(factory, write=True) as connection:
            return write_outcomes(connection, [refused])


def fail_job(factory: SessionFactory, job_id: str, error: str) -> None:
    """Mark a job failed (when its message could not even be parsed); final jobs are left alone."""
    with factory.begin() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is not None and not JobStatus(job.status).final:
            job.status = JobStatus.FAILED.value
            job.error = error
            job.finished_at = utcnow()


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


def claim_unstarted(
    factory: SessionFactory, older_than: timedelta, limit: int = 100, skip_queues: Collection[str] = ()
) -> list[ChatJob]:
    """Jobs published longer than `older_than` ago and still not started — a broker may have
    lost them (Redis loses a message popped by a worker killed before it noted it as unacked) —
    claimed for re-publishing: their publish time moves to now in the same transaction, so one
    process re-publishes each (rows locked, others skipped, on PostgreSQL). A copy that arrives
    twice is harmless: answers are stored once. Jobs on `skip_queues` (the queue people answer
    from, where a job waits for hours by design) are left alone."""
    stalled = _queued_before(utcnow() - older_than).where(Job.queue.not_in(list(skip_queues)))
    return _claim_for_publishing(factory, stalled.order_by(Job.created_at).limit(limit))


def queued_before(
    factory: SessionFactory, cutoff: datetime, skip_queues: Collection[str] = (), limit: int = 50_000
) -> dict[str, str]:
    """The jobs still `queued` that were last published before `cutoff` (oldest first, at most
    `limit`), each with its queue: where a broker should hold their messages."""
    query = (
        select(jobs.c.job_id, jobs.c.queue)
        .where(jobs.c.status == JobStatus.QUEUED.value, _last_published < cutoff)
        .where(jobs.c.queue.not_in(list(skip_queues)))
        .order_by(_last_published)
        .limit(limit)
    )
    with connect(factory) as connection:
        return dict(connection.execute(query).tuples().all())


def claim_lost(factory: SessionFactory, job_ids: Collection[str], cutoff: datetime) -> list[ChatJob]:
    """Of these jobs, whose messages the broker no longer has, those still `queued` and last
    published before `cutoff`, claimed for re-publishing as claim_unstarted claims (a job that
    started meanwhile, or that another process claimed, is not claimed again)."""
    if not job_ids:
        return []
    lost = _queued_before(cutoff).where(Job.job_id.in_(list(job_ids))).order_by(Job.created_at)
    return _claim_for_publishing(factory, lost)


# When a job was last sent to its broker (its first publish, or the last re-publish).
_last_published = func.coalesce(jobs.c.published_at, jobs.c.created_at)


def _queued_before(cutoff: datetime) -> Select[Job, str]:
    """Queued jobs last published before `cutoff`, each with its user turn's text."""
    return (
        select(Job, Message.text)
        .join(Message, (Message.job_id == Job.job_id) & (Message.role == USER))
        .where(Job.status == JobStatus.QUEUED.value, _last_published < cutoff)
    )


def _claim_for_publishing(factory: SessionFactory, query: Select[Job, str]) -> list[ChatJob]:
    """The jobs of `query`, their publish time moved to now in the same transaction (rows locked,
    others skipped, on PostgreSQL), so that one process re-publishes each."""
    with factory.begin() as session:
        rows = session.execute(query.with_for_update(of=Job, skip_locked=True)).all()
        for job, _text in rows:
            job.published_at = utcnow()
        return [_chat_job(job, text) for job, text in rows]


def claim_orphans(factory: SessionFactory, dead_after: timedelta, limit: int = 100) -> list[ChatJob]:
    """Jobs left `running` by a worker whose heartbeat is older than `dead_after` (or that never
    beat), claimed for re-publishing: back to `queued`, their publish time now, in the same
    transaction (rows locked, others skipped, on PostgreSQL), so one process re-publishes each.
    The dead worker's own message, if the broker redelivers it later, finds the job final. A job
    whose user turn is missing cannot run again: it ends `failed` here."""
    cutoff = utcnow() - dead_after
    orphaned = (
        select(Job, Message.text)
        .outerjoin(Message, (Message.job_id == Job.job_id) & (Message.role == USER))
        .where(Job.status == JobStatus.RUNNING.value, Job.started_at < cutoff, _on_silent_worker(cutoff))
        .order_by(Job.created_at)
        .limit(limit)
        .with_for_update(of=Job, skip_locked=True)
    )
    with factory.begin() as session:
        rows = session.execute(orphaned).all()
        claimed = []
        for job, text in rows:
            if text is None:
                job.status, job.error, job.finished_at = (
                    JobStatus.FAILED.value,
                    "its message is missing",
                    utcnow(),
                )
                continue
            job.status, job.worker, job.published_at = JobStatus.QUEUED.value, None, utcnow()
            claimed.append(_chat_job(job, text))
        return claimed


def stranded(factory: SessionFactory, job_ids: Sequence[str], dead_after: timedelta) -> list[str]:
    """Of the jobs whose messages a broker has held unacked for over `dead_after`, those no living
    worker runs: `queued` ones (a living worker starts a job within moments of its delivery) and
    ones `running` on a worker silent for over `dead_after`. Their held messages can go back."""
    if not job_ids:
        return []
    cutoff = utcnow() - dead_after
    query = select(jobs.c.job_id).where(
        jobs.c.job_id.in_(list(job_ids)),
        (jobs.c.status == JobStatus.QUEUED.value)
        | ((jobs.c.status == JobStatus.RUNNING.value) & _on_silent_worker(cutoff)),
    )
    with connect(factory) as connection:
        return list(connection.execute(query).scalars())


def release_orphans(factory: SessionFactory, job_ids: Sequence[str], dead_after: timedelta) -> None:
    """Jobs of silent workers whose own messages went back to their queues: `queued` again, so
    that claim_orphans does not publish them a second time."""
    if not job_ids:
        return
    cutoff = utcnow() - dead_after
    release = (
        update(jobs)
        .where(
            jobs.c.job_id.in_(list(job_ids)),
            jobs.c.status == JobStatus.RUNNING.value,
            _on_silent_worker(cutoff),
        )
        .values(status=JobStatus.QUEUED.value, worker=None, published_at=utcnow())
    )
    with connect(factory, write=True) as connection:
        connection.execute(release)


def _on_silent_worker(cutoff: datetime) -> ColumnElement[bool]:
    """The job's worker has not beaten since `cutoff` (or never beat, or stopped and said so)."""
    beats = WorkerBeat.__table__.c
    return ~exists().where(beats.name == jobs.c.worker, beats.seen_at >= cutoff)


def expire_overdue(factory: SessionFactory, grace: timedelta, limit: int = 500) -> list[str]:
    """The watchdog: jobs still queued or running `grace` after their deadline end `expired`, so
    that no job stays unfinished whatever was lost on the way (a message, a worker, a store write).
    An answer that comes later still replaces the expiry (answers win). Returns the expired ids."""
    now = utcnow()
    overdue = (
        select(jobs.c.job_id)
        .where(
            jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
            jobs.c.deadline_at < now - grace,
        )
        .limit(limit)
    )
    with connect(factory, write=True) as connection:
        ids = list(connection.execute(overdue).scalars())
        if ids:
            connection.execute(
                update(jobs)
                .where(
                    jobs.c.job_id.in_(ids),
                    jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
                )
                .values(
                    status=JobStatus.EXPIRED.value, error="deadline passed (never answered)", finished_at=now
                )
            )
    return ids


def reopen_job(factory: SessionFactory, job_id: str) -> JobStatus | None:
    """A dead-lettered job replayed: `queued` again unless it is done (a replay of an answered
    job changes nothing). Returns the status it has now; None for a job the store does not have."""
    reopen = (
        update(jobs)
        .where(jobs.c.job_id == job_id, jobs.c.status.in_([JobStatus.FAILED.value, JobStatus.EXPIRED.value]))
        .values(
            status=JobStatus.QUEUED.value, error=None, finished_at=None, worker=None, published_at=utcnow()
        )
    )
    with connect(factory, write=True) as connection:
        connection.execute(reopen)
        status = connection.execute(JOB_STATUS, {"b_id": job_id}).scalar()
    return None if status is None else JobStatus(status)


def requeue_jobs(factory: SessionFactory, job_ids: Sequence[str], worker: str) -> None:
    """Jobs `worker` started and hands back untouched (shutting down, breaker open) or retries:
    `queued` again, so that nobody takes them for orphans of this worker once it is gone, and the
    unstarted check counts from now."""
    if not job_ids:
        return
    back = (
        update(jobs)
        .where(
            jobs.c.job_id.in_(list(job_ids)),
            jobs.c.status == JobStatus.RUNNING.value,
            jobs.c.worker == worker,
        )
        .values(status=JobStatus.QUEUED.value, worker=None, published_at=utcnow())
    )
    with connect(factory, write=True) as connection:
        connection.execute(back)


def _chat_job(job: Job, text: str) -> ChatJob:
    return ChatJob(
        job_id=job.job_id,
        conversation_id=job.conversation_id,
        channel=job.channel,
        user_ref=job.user_ref,
        text=text,
        language=job.language,
        queue=job.queue,
        profile=job.profile,
        created_at=job.created_at,
        deadline_at=job.deadline_at,
    )
