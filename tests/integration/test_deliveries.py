"""Deliveries the store holds as pending but nobody asked for (a worker died between storing the
answer and asking) are asked for again, on a real Redis broker and the PostgreSQL store; a fresh
one, or one tried already, is left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core.jobs import ChatAnswer, ChatJob, JobStatus, new_id, utcnow
from ops.deliverer import ask_again_for_stranded
from persistence import deliveries
from persistence.db import connect
from persistence.tables import jobs as jobs_table
from tests.support.jobs import fresh_stack
from tests.support.store import record_user_turn, start_job, store_answer
from transport.queues import DELIVERY_QUEUE

pytestmark = pytest.mark.integration


def _answered_job(stack, minutes_ago: float) -> str:
    job = ChatJob(
        job_id=new_id(),
        conversation_id=new_id(),
        text="Where is my parcel?",
        language="en",
        queue="chat.en",
        channel="shop",
    )
    record_user_turn(stack.factory, job, "detected", new_conversation=True)
    start_job(stack.factory, job.job_id, "w1")
    store_answer(
        stack.factory, ChatAnswer(job_id=job.job_id, text="Soon.", language="en", status=JobStatus.DONE)
    )
    with connect(stack.factory, write=True) as connection:
        ended = utcnow() - timedelta(minutes=minutes_ago)
        connection.execute(
            update(jobs_table).where(jobs_table.c.job_id == job.job_id).values(finished_at=ended)
        )
    deliveries.record(stack.factory, job.job_id, "shop", "chat-1")
    return job.job_id


def test_a_stranded_delivery_is_asked_for_again_and_only_that_one(redis_url: str, postgres_url: str):
    stack = fresh_stack({"broker_url": redis_url, "database_url": postgres_url})
    try:
        stranded, fresh, tried = (_answered_job(stack, m) for m in (5, 0.1, 5))
        deliveries.attempted(stack.factory, tried, "HTTP 503")  # tried once: its retry is on its way
        assert ask_again_for_stranded(stack) >= 1
        asked = _asked(stack.celery)
        assert stranded in asked and fresh not in asked and tried not in asked  # (others' may be there)
    finally:
        stack.close()


def _asked(app) -> list[str]:
    """The job ids of the delivery requests waiting on the queue, taken off it."""
    asked = []
    with app.connection_for_write() as connection:
        bound = app.amqp.queues[DELIVERY_QUEUE].bind(connection.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            args, _kwargs, _embed = message.decode()
            asked.append(args[0])
    return asked
