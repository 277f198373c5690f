"""What the dead-worker sweep for lost Redis messages costs with a deep queue: `depth` jobs queued
in the store and waiting on Redis, one of them popped and lost with a worker that died, then the
sweep of a living worker timed step by step (claim the death and list the queued jobs, read
Redis, read the suspects again, claim them). Runs on a queue of its own and removes its jobs;
it claims every death the store has not swept yet, so it is for a store of its own, never a
production one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from celery import Celery
from sqlalchemy import delete, update

from core.errors import ConfigurationError
from core.jobs import ChatJob, new_id, utcnow
from core.settings import Settings
from persistence import job_lifecycle, liveness
from persistence.models import Conversation, Job, Message, WorkerBeat
from persistence.user_turns import UserTurn, record_user_turns
from producers.stack import Stack, build_stack
from transport.held_messages import HeldMessages
from transport.queues import publish_job

QUEUE = "chat.sweep-cost"  # no worker serves it
DEAD_WORKER = "sweep-cost-dead@bench"
T = TypeVar("T")


@dataclass(frozen=True)
class SweepCost:
    depth: int
    found: int  # suspects found lost (1 is right)
    claim_and_list_ms: float  # claim the death, list the queued jobs published before it
    read_redis_ms: float  # every place Redis keeps a chat message for their queues
    confirm_ms: float  # the second read, and the claim of the lost jobs

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_sweep_cost(settings: Settings, depth: int) -> SweepCost:
    if not settings.broker_url.startswith("redis"):
        raise ConfigurationError("the sweep reads Redis: set BABELQ_BROKER_URL=redis://…")
    if settings.env == "production":
        raise ConfigurationError("the sweep's price is measured on a store of its own, not in production")
    stack = build_stack(settings)
    jobs = [_job(i) for i in range(depth)]
    try:
        _queue_jobs(stack, jobs)
        _lose_one(stack.celery)
        return _timed_sweep(stack, depth)
    finally:
        _clean_up(stack, jobs)
        stack.close()


def _job(i: int) -> ChatJob:
    text = f"question {i}"
    return ChatJob(job_id=new_id(), conversation_id=new_id(), text=text, language="en", queue=QUEUE)


def _queue_jobs(stack: Stack, jobs: list[ChatJob]) -> None:
    for start in range(0, len(jobs), 1000):
        record_user_turns(
            stack.factory, [UserTurn(job, "explicit", True) for job in jobs[start : start + 1000]]
        )
    two_minutes_ago = utcnow() - timedelta(minutes=2)  # published well before the death
    with stack.factory.begin() as session:
        session.execute(update(Job).where(Job.queue == QUEUE).values(published_at=two_minutes_ago))
    for job in jobs:
        publish_job(stack.celery, job)
    beat_ago = utcnow() - timedelta(minutes=1)
    liveness.beat(stack.factory, DEAD_WORKER, beat_ago)
    with stack.factory.begin() as session:
        session.execute(update(WorkerBeat).where(WorkerBeat.name == DEAD_WORKER).values(seen_at=beat_ago))


def _lose_one(app: Celery) -> None:
    """Pop the oldest message as a killed worker's BRPOP did, and drop it."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        channel.client.brpop([channel._q_for_pri(QUEUE, pri) for pri in channel.priority_steps], timeout=1)


def _timed_sweep(stack: Stack, depth: int) -> SweepCost:
    held = HeldMessages(stack.celery)
    dead_after = timedelta(seconds=stack.settings.worker_dead_after_s)

    def claim_and_list() -> tuple[datetime, dict[str, str]]:
        death = liveness.claim_deaths(stack.factory, dead_after)
        if death is None:
            raise RuntimeError("the bench's dead worker was not found dead")
        return death, job_lifecycle.queued_before(stack.factory, death)

    (death, queued), listed_ms = _timed(claim_and_list)
    kept, read_ms = _timed(lambda: held.kept_job_ids({QUEUE}) or set())
    suspects = [job_id for job_id, queue in queued.items() if queue == QUEUE and job_id not in kept]

    def confirm() -> list[ChatJob]:
        again = held.kept_job_ids({QUEUE}) or set()
        return job_lifecycle.claim_lost(stack.factory, [j for j in suspects if j not in again], death)

    lost, confirm_ms = _timed(confirm)
    return SweepCost(depth, len(lost), listed_ms, read_ms, confirm_ms)


def _timed(step: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = step()
    return result, (time.perf_counter() - started) * 1000


def _clean_up(stack: Stack, jobs: list[ChatJob]) -> None:
    with stack.celery.connection_for_write() as connection:
        channel = connection.default_channel
        channel.client.delete(*[channel._q_for_pri(QUEUE, pri) for pri in channel.priority_steps])
    with stack.factory.begin() as session:
        for start in range(0, len(jobs), 1000):
            chunk = jobs[start : start + 1000]
            ids = [job.job_id for job in chunk]
            session.execute(delete(Message).where(Message.job_id.in_(ids)))
            session.execute(delete(Job).where(Job.job_id.in_(ids)))
            talks = [job.conversation_id for job in chunk]
            session.execute(delete(Conversation).where(Conversation.id.in_(talks)))
        session.execute(delete(WorkerBeat).where(WorkerBeat.name == DEAD_WORKER))
