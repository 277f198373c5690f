"""Messages Redis holds for a consumer that died (kill -9) go back to their queue within a minute,
not after the visibility timeout's hour, when no living worker runs their jobs; the rest stay."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import update

from core.jobs import ChatJob, JobStatus, new_id, utcnow
from persistence import liveness, views
from persistence.models import Job, WorkerBeat
from producers.stack import Stack
from tests.support import store
from tests.support.jobs import fresh_stack, waiting_ids
from transport.held_messages import HeldMessages
from transport.queues import publish_job
from workers.republisher import CONFIRM_AFTER_S, Republisher

pytestmark = pytest.mark.integration
DEAD_AFTER_S = 30.0  # the shipped BABELQ_WORKER_DEAD_AFTER_S


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Stack:
    return fresh_stack({"broker_url": redis_url, "database_url": f"sqlite:///{tmp_path / 'babelq.db'}"})


def _published(stack: Stack, countdown: float | None = None) -> ChatJob:
    job = ChatJob(job_id=new_id(), conversation_id=new_id(), text="hello", language="en", queue="chat.en")
    store.record_user_turn(stack.factory, job, "explicit")
    publish_job(stack.celery, job, countdown=countdown)
    return job


def _taken_by_a_consumer_that_dies(app: Celery, held_for_s: float) -> str:
    """Take the next chat.en message unacked, as a worker does, and die without a word (kill -9):
    the copy stays in Redis's unacked hash, delivered `held_for_s` seconds ago."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        message = app.amqp.queues["chat.en"].bind(channel).get(no_ack=False)
        assert message is not None
        channel.do_restore = False  # a killed process gives nothing back when its connection drops
        channel.client.zadd(channel.unacked_index_key, {message.delivery_tag: time.time() - held_for_s})
    return str(message.headers["id"])


def _republisher(stack: Stack, published: list[str] | None = None) -> Republisher:
    """The re-publisher a worker runs; jobs it publishes anew are noted in `published`."""
    sink = published if published is not None else []
    return Republisher(
        stack.factory,
        lambda job: sink.append(job.job_id),
        after_s=900,
        dead_after_s=DEAD_AFTER_S,
        held=HeldMessages(stack.celery),
    )


def _held_ids(app: Celery) -> set[str]:
    return {message.job_id for message in HeldMessages(app).older_than(0, limit=10_000)}


def test_a_dead_consumers_unstarted_job_goes_back_to_its_queue(stack: Stack):
    # given a queued job whose message a worker took and died holding, 40 s ago
    job = _published(stack)
    assert _taken_by_a_consumer_that_dies(stack.celery, held_for_s=DEAD_AFTER_S + 10) == job.job_id
    assert job.job_id in _held_ids(stack.celery)
    # when a living worker's heartbeat runs its re-publisher
    published: list[str] = []
    assert _republisher(stack, published).run_orphans() == 1
    assert published == []
    # then the very message is on its queue again, once, and no longer held
    assert waiting_ids(stack.celery, "chat.en") == [job.job_id]
    assert job.job_id not in _held_ids(stack.celery)
    assert _republisher(stack).run_orphans() == 0  # a second pass finds nothing to give back


def test_a_message_held_briefly_or_by_a_living_worker_stays_held(stack: Stack):
    # given: a job held only 10 s; a job running on a worker that beats; a retry held for its ETA
    recent = _published(stack)
    _taken_by_a_consumer_that_dies(stack.celery, held_for_s=10)
    busy = _published(stack)
    _taken_by_a_consumer_that_dies(stack.celery, held_for_s=DEAD_AFTER_S * 4)
    store.start_job(stack.factory, busy.job_id, "alive@host")
    liveness.beat(stack.factory, "alive@host", utcnow())
    backing_off = _published(stack, countdown=60)
    _taken_by_a_consumer_that_dies(stack.celery, held_for_s=DEAD_AFTER_S + 10)
    # then none of them goes back
    assert _republisher(stack).give_back_held() == 0
    assert {recent.job_id, busy.job_id, backing_off.job_id} <= _held_ids(stack.celery)
    assert waiting_ids(stack.celery, "chat.en") == []
    _forget_held(stack.celery, [recent, busy, backing_off])


def test_a_silent_workers_running_job_goes_back_once_and_is_queued_again(stack: Stack):
    # given a job running on a worker that stopped beating a minute ago, its message held
    job = _published(stack)
    _taken_by_a_consumer_that_dies(stack.celery, held_for_s=DEAD_AFTER_S * 3)
    store.start_job(stack.factory, job.job_id, "dead@host")
    liveness.beat(stack.factory, "dead@host", utcnow() - timedelta(minutes=2))
    _backdate(stack, job.job_id, "dead@host", timedelta(minutes=1))
    # when the re-publisher runs: its message goes back, the job is queued, and it is not
    # published a second time by the orphan claim
    published: list[str] = []
    assert _republisher(stack, published).run_orphans() == 1
    assert published == []
    assert waiting_ids(stack.celery, "chat.en") == [job.job_id]
    view = views.get_job(stack.factory, job.job_id)
    assert view is not None and view.status is JobStatus.QUEUED


def test_other_brokers_hold_nothing_to_read(amqp_url: str, tmp_path: Path):
    stack = fresh_stack({"broker_url": amqp_url, "database_url": f"sqlite:///{tmp_path / 'b.db'}"})
    _published(stack)
    assert HeldMessages(stack.celery).older_than(0) == []
    assert HeldMessages(stack.celery).kept_job_ids(["chat.en"]) is None  # none lost on a death
    assert _republisher(stack).give_back_held() == 0


def test_a_message_popped_by_a_worker_killed_before_it_noted_it_is_published_again_once(stack: Stack):
    # given a worker that died with one job's message popped off its queue and not yet noted as
    # held (BRPOP answered, the answer never read): the job is queued, its message nowhere in
    # Redis; beside it a job a living worker holds and one still waiting, all published before
    lost = _published(stack)
    assert _popped_and_lost(stack.celery) == lost.job_id
    held = _published(stack)
    _taken_by_a_consumer_that_dies(stack.celery, held_for_s=1)
    waiting = _published(stack)
    _published_ago(stack, [lost, held, waiting], timedelta(minutes=2))
    _died(stack, "killed@host", timedelta(seconds=DEAD_AFTER_S + 10))
    # when a living worker beats, and beats again once the suspects' time has come
    published: list[str] = []
    survivor = _republisher(stack, published)
    assert survivor.run_orphans() == 0  # suspects only, for now
    time.sleep(CONFIRM_AFTER_S)
    assert survivor.run_orphans() == 1
    # then the lost job alone is published again; the others' messages are where they were
    assert published == [lost.job_id]
    assert held.job_id in _held_ids(stack.celery)
    assert waiting_ids(stack.celery, "chat.en") == [waiting.job_id]
    _forget_held(stack.celery, [held])


def test_the_republisher_that_claimed_a_death_publishes_its_lost_jobs_once_they_are_confirmed(
    stack: Stack,
):
    # given the lost job of a dead worker, as above, and a living worker's republisher
    lost = _published(stack)
    _popped_and_lost(stack.celery)
    _published_ago(stack, [lost], timedelta(minutes=2))
    _died(stack, "killed@host", timedelta(seconds=DEAD_AFTER_S + 10))
    published: list[str] = []
    survivor, other = _republisher(stack, published), _republisher(stack, published)
    # when both beat, then beat again after the confirmation delay
    assert survivor.run_orphans() == other.run_orphans() == 0
    time.sleep(CONFIRM_AFTER_S)
    assert survivor.run_orphans() + other.run_orphans() == 1
    # then the lost job was published again exactly once; later beats publish nothing more
    assert published == [lost.job_id]
    assert survivor.run_orphans() + other.run_orphans() == 0
    assert published == [lost.job_id]


def test_a_suspect_whose_message_turns_up_again_is_not_published(stack: Stack):
    # given a dead worker and a job whose message was between two places at the first look
    suspect = _published(stack)
    raw = _pop_raw(stack.celery)
    _published_ago(stack, [suspect], timedelta(minutes=2))
    _died(stack, "killed@host", timedelta(seconds=DEAD_AFTER_S + 10))
    published: list[str] = []
    survivor = _republisher(stack, published)
    assert survivor.run_orphans() == 0
    # when its message is back on the queue before the second look
    _push_raw(stack.celery, raw)
    time.sleep(CONFIRM_AFTER_S)
    # then it is not published a second time
    assert survivor.run_orphans() == 0
    assert published == []
    assert waiting_ids(stack.celery, "chat.en") == [suspect.job_id]


def _popped_and_lost(app: Celery) -> str:
    """Pop the next chat.en message as kombu's BRPOP does, and lose it: the job id it carried."""
    raw = _pop_raw(app)
    return str(json.loads(raw)["headers"]["id"])


def _pop_raw(app: Celery) -> bytes:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        keys = [channel._q_for_pri("chat.en", pri) for pri in channel.priority_steps]
        popped = channel.client.brpop(keys, timeout=1)
    assert popped is not None
    return bytes(popped[1])


def _push_raw(app: Celery, raw: bytes) -> None:
    with app.connection_for_write() as connection:
        connection.default_channel.client.rpush("chat.en", raw)


def _published_ago(stack: Stack, jobs: list[ChatJob], ago: timedelta) -> None:
    with stack.factory.begin() as session:
        ids = [job.job_id for job in jobs]
        session.execute(update(Job).where(Job.job_id.in_(ids)).values(published_at=utcnow() - ago))


def _died(stack: Stack, worker: str, ago: timedelta) -> None:
    """`worker` beat last `ago` and beats no more."""
    liveness.beat(stack.factory, worker, utcnow() - ago)
    with stack.factory.begin() as session:
        session.execute(update(WorkerBeat).where(WorkerBeat.name == worker).values(seen_at=utcnow() - ago))


def _backdate(stack: Stack, job_id: str, worker: str, ago: timedelta) -> None:
    """The job started, and its worker last beat, `ago`."""
    with stack.factory.begin() as session:
        session.execute(update(WorkerBeat).where(WorkerBeat.name == worker).values(seen_at=utcnow() - ago))
        session.execute(update(Job).where(Job.job_id == job_id).values(started_at=utcnow() - ago))


def _forget_held(app: Celery, jobs: list[ChatJob]) -> None:
    """Drop the test's held copies (a dead consumer's leftovers would come back in an hour)."""
    ids = {job.job_id for job in jobs}
    held = [m.tag for m in HeldMessages(app).older_than(0, limit=10_000) if m.job_id in ids]
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for tag in held:
            channel.client.hdel(channel.unacked_key, tag)
            channel.client.zrem(channel.unacked_index_key, tag)
