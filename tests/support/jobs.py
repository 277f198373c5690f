"""Publishing test jobs the way the intake does (store the user turn, then publish), and reading
what the store says about them afterwards."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from celery import Celery
from sqlalchemy import select

from core.jobs import ChatJob, JobStatus, new_id
from core.settings import load_settings
from persistence import views
from persistence.migrate import upgrade
from persistence.models import Job, Message
from producers.stack import Stack, build_stack
from tests.support import store
from transport.queues import publish_job


def fresh_stack(values: dict[str, str]) -> Stack:
    """A producer stack on migrated storage and empty queues, from BABELQ_* values."""
    upgrade(values["database_url"])
    stack = build_stack(load_settings(**values))
    purge_queues(stack)
    return stack


def purge_queues(stack: Stack) -> None:
    """Empty every babelq queue on the stack's broker (leftovers of earlier tests)."""
    with stack.celery.connection_for_write() as connection:
        for queue in stack.celery.conf.task_queues:
            bound = queue.bind(connection.default_channel)
            bound.declare()
            bound.purge()


def waiting_ids(app: Celery, queue: str) -> list[str]:
    """The task ids of the messages waiting on `queue`, taken off it."""
    ids = []
    with app.connection_for_write() as connection:
        bound = app.amqp.queues[queue].bind(connection.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            ids.append(message.headers["id"])
    return ids


def publish_english_jobs(stack: Stack, count: int, label: str = "question") -> list[ChatJob]:
    jobs = [
        ChatJob(
            job_id=new_id(),
            conversation_id=new_id(),
            text=f"{label} {i}: where is my parcel?",
            language="en",
            queue="chat.en",
        )
        for i in range(count)
    ]
    for job in jobs:
        store.record_user_turn(stack.factory, job, "explicit")
        publish_job(stack.celery, job)
    return jobs


def statuses(stack: Stack, jobs: list[ChatJob]) -> Counter[JobStatus | None]:
    found = [views.get_job(stack.factory, job.job_id) for job in jobs]
    return Counter(view.status if view else None for view in found)


def all_done(stack: Stack, jobs: list[ChatJob]) -> bool:
    return statuses(stack, jobs)[JobStatus.DONE] == len(jobs)


def assistant_turns(stack: Stack, jobs: list[ChatJob]) -> Counter[str]:
    """How many assistant turns the store holds per job id (each must be exactly one)."""
    wanted = {job.job_id for job in jobs}
    with stack.factory() as session:
        rows = session.execute(select(Message.job_id).where(Message.role == "assistant")).scalars()
        return Counter(job_id for job_id in rows if job_id in wanted)


def answered_by(stack: Stack, jobs: list[ChatJob] | list[str]) -> Counter[str]:
    """Jobs answered per worker node name."""
    ids = [job if isinstance(job, str) else job.job_id for job in jobs]
    found = [views.get_job(stack.factory, job_id) for job_id in ids]
    return Counter(view.worker or "" for view in found if view and view.status is JobStatus.DONE)


def node_of(log: Path) -> str:
    """The worker's Celery node name, from its start-up line."""
    for line in log.read_text(errors="replace").splitlines():
        if "worker cpu-" in line and " consumes " in line:
            return line.split("worker ", 1)[1].split(" consumes", 1)[0]
    raise AssertionError(f"no node name in {log}")


def running_on(stack: Stack, node: str) -> list[str]:
    with stack.factory() as session:
        query = select(Job.job_id).where(Job.worker == node, Job.status == JobStatus.RUNNING.value)
        return list(session.execute(query).scalars())
