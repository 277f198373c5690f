"""The store on SQLite and PostgreSQL: migrations both ways, idempotent answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, update

from core.errors import EarlierTurnPending, JobNotFound
from core.jobs import ChatAnswer, ChatJob, JobStatus, keepable_text, new_id, utcnow
from persistence import job_lifecycle, liveness, views
from persistence.db import make_engine, make_session_factory
from persistence.migrate import downgrade, upgrade
from persistence.models import WorkerBeat
from persistence.tables import jobs as jobs_table
from tests.support import store

pytestmark = pytest.mark.integration


def test_migrations_upgrade_downgrade_upgrade(store_url: str):
    upgrade(store_url)
    downgrade(store_url, "base")
    engine = make_engine(store_url)
    assert not {"jobs", "messages", "conversations"} & set(inspect(engine).get_table_names())
    upgrade(store_url)
    assert {"jobs", "messages", "conversations"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_answers_are_written_once_per_job_id(store_url: str):
    upgrade(store_url)
    engine = make_engine(store_url)
    factory = make_session_factory(engine)
    job = ChatJob(job_id=new_id(), conversation_id=new_id(), text="hello", language="en", queue="chat.en")
    store.record_user_turn(factory, job, "detected")
    answer = ChatAnswer(job_id=job.job_id, text="hi!", language="en", status=JobStatus.DONE, model="m")
    assert store.store_answer(factory, answer) is True
    assert store.store_answer(factory, answer.model_copy(update={"text": "again"})) is False
    turns = store.get_turns(factory, job.conversation_id)
    assert turns is not None
    assert [(t.role, t.text) for t in turns] == [("user", "hello"), ("assistant", "hi!")]
    assert store.start_job(factory, job.job_id, "w").final  # a redelivery sees it is done
    engine.dispose()


def _queued(factory, conversation_id: str, text: str) -> ChatJob:
    job = ChatJob(job_id=new_id(), conversation_id=conversation_id, text=text, language="en", queue="chat.en")
    store.record_user_turn(factory, job, "detected")
    return job


def _done(job: ChatJob, text: str, status: JobStatus = JobStatus.DONE) -> ChatAnswer:
    return ChatAnswer(job_id=job.job_id, text=text, language="en", status=status, model="m")


def test_a_batch_of_starts_gives_each_job_its_own_outcome(migrated_store_url: str):
    with store.session_factory(migrated_store_url) as factory:
        talk = new_id()
        first = _queued(factory, talk, "where is my order?")
        store.store_answer(factory, _done(first, "on its way"))
        second = _queued(factory, talk, "and when will it arrive?")
        follow_up = _queued(factory, talk, "thanks")  # waits for `second`, not final yet
        fresh = _queued(factory, new_id(), "hello")
        finished = _queued(factory, new_id(), "bye")
        store.store_answer(factory, _done(finished, "bye!"))
        starts = [(j.job_id, "w1") for j in (second, follow_up, fresh, finished)] + [("missing", "w1")]
        begun = job_lifecycle.begin_jobs(factory, starts, history=10)
        assert begun[0] == (JobStatus.QUEUED, begun[0][1])
        assert [(t.role, t.text) for t in begun[0][1]] == [
            ("user", "where is my order?"),
            ("assistant", "on its way"),
        ]
        assert isinstance(begun[1], EarlierTurnPending)
        assert begun[2] == (JobStatus.QUEUED, [])
        assert begun[3] == (JobStatus.DONE, [])
        assert isinstance(begun[4], JobNotFound)
        again = job_lifecycle.begin_jobs(factory, [(second.job_id, "w2")], history=1)[0]
        assert not isinstance(again, BaseException)
        assert again[0] == JobStatus.RUNNING  # a redelivery of a started job
        assert [t.text for t in again[1]] == ["on its way"]  # the history limit holds per job


def test_a_batch_of_answers_is_written_once_each(migrated_store_url: str):
    with store.session_factory(migrated_store_url) as factory:
        one, two, failed = (_queued(factory, new_id(), text) for text in ("a", "b", "c"))
        store.store_answer(factory, _done(two, "already"))
        answers = [
            _done(one, "first"),
            _done(one, "duplicate"),
            _done(two, "late"),
            _done(failed, "", JobStatus.FAILED),
            _done(failed, "retried ok"),
            ChatAnswer(job_id="missing", text="x", language="en", status=JobStatus.DONE, model="m"),
        ]
        outcomes = job_lifecycle.store_answers(factory, answers)
        assert outcomes[:5] == [True, False, False, True, True]
        assert isinstance(outcomes[5], JobNotFound)
        for job, text in ((one, "first"), (two, "already"), (failed, "retried ok")):
            turns = store.get_turns(factory, job.conversation_id)
            assert turns is not None and [t.text for t in turns if t.role == "assistant"] == [text]


def test_an_answer_the_store_refuses_is_stored_failed_and_its_group_is_stored(postgres_url: str):
    upgrade(postgres_url)
    with store.session_factory(postgres_url) as factory:
        good, bad = (_queued(factory, new_id(), text) for text in ("a", "b"))
        # PostgreSQL keeps no NUL in text (the responder drops it from a model's output: this is
        # the store's own guard, for any value it cannot hold)
        outcomes = job_lifecycle.store_answers(factory, [_done(good, "fine"), _done(bad, "nul\x00here")])
        assert outcomes == [True, True]
        assert views.get_job(factory, good.job_id).answer == "fine"  # type: ignore[union-attr]
        refused = views.get_job(factory, bad.job_id)
        assert refused is not None and refused.status is JobStatus.FAILED
        assert "could not be stored" in (refused.error or "")


def test_a_models_output_is_made_keepable():
    assert keepable_text("a\x00b") == "ab"
    assert keepable_text("x\ud800y") == "x\ufffdy"
    assert keepable_text("你好 ¿qué? 🙂") == "你好 ¿qué? 🙂"


def _set(factory, table, key: str, value: str, **values) -> None:
    with factory.begin() as session:
        session.execute(update(table).where(table.c[key] == value).values(**values))


def test_jobs_left_running_by_a_silent_worker_are_claimed_once_and_a_living_workers_are_not(
    migrated_store_url: str,
):
    with store.session_factory(migrated_store_url) as factory:
        dead, alive, silent = (_queued(factory, new_id(), text) for text in ("a", "b", "c"))
        long_ago = utcnow() - timedelta(minutes=5)
        for job, worker in ((dead, "dead@h"), (alive, "alive@h"), (silent, "never-beat@h")):
            store.start_job(factory, job.job_id, worker)
            _set(factory, jobs_table, "job_id", job.job_id, started_at=long_ago)
        liveness.beat(factory, "dead@h", long_ago)
        liveness.beat(factory, "alive@h", long_ago)
        _set(factory, WorkerBeat.__table__, "name", "dead@h", seen_at=long_ago)  # stopped beating
        ours = {dead.job_id, silent.job_id, alive.job_id}  # the store is shared with other tests
        claimed = [j for j in job_lifecycle.claim_orphans(factory, timedelta(seconds=30)) if j.job_id in ours]
        assert sorted(j.job_id for j in claimed) == sorted([dead.job_id, silent.job_id])
        assert {j.text for j in claimed} == {"a", "c"}
        again = job_lifecycle.claim_orphans(factory, timedelta(seconds=30))
        assert not {j.job_id for j in again} & ours  # queued now: claimed once
        assert store.start_job(factory, dead.job_id, "alive@h") == JobStatus.RUNNING  # runs again


def test_a_workers_death_is_claimed_once_and_again_when_it_comes_back_and_dies(migrated_store_url: str):
    with store.session_factory(migrated_store_url) as factory:
        dead_after = timedelta(seconds=30)
        # given a worker whose last beat was a minute ago
        last_beat = utcnow() - timedelta(minutes=1)
        liveness.beat(factory, "mortal@h", last_beat)
        _set(factory, WorkerBeat.__table__, "name", "mortal@h", seen_at=last_beat)
        # when two living workers look for deaths: the first claims it, with when it was found dead
        death = liveness.claim_deaths(factory, dead_after)
        assert death is not None and death >= last_beat + dead_after
        assert liveness.claim_deaths(factory, dead_after) is None
        # a worker that comes back under its name (its death swept two minutes ago) and beats
        # is alive: no death to claim
        _set(factory, WorkerBeat.__table__, "name", "mortal@h", swept_at=utcnow() - timedelta(minutes=2))
        liveness.beat(factory, "mortal@h", utcnow())
        assert liveness.claim_deaths(factory, dead_after) is None
        # and when it dies again (its last beat 45 s ago), its new death is claimed once more
        again = utcnow() - timedelta(seconds=45)
        _set(factory, WorkerBeat.__table__, "name", "mortal@h", seen_at=again)
        assert liveness.claim_deaths(factory, dead_after) == again + dead_after


def test_lost_jobs_are_claimed_once_if_still_queued_and_published_before_the_death(
    migrated_store_url: str,
):
    with store.session_factory(migrated_store_url) as factory:
        # given three jobs published a minute ago, one of them started since, and one published now
        lost, started, published_again = (_queued(factory, new_id(), text) for text in ("a", "b", "c"))
        minute_ago = utcnow() - timedelta(minutes=1)
        for job in (lost, started, published_again):
            _set(factory, jobs_table, "job_id", job.job_id, published_at=minute_ago)
        store.start_job(factory, started.job_id, "alive@h")
        later = _queued(factory, new_id(), "d")
        death = utcnow() - timedelta(seconds=1)
        _set(factory, jobs_table, "job_id", published_again.job_id, published_at=utcnow())
        # then the queued jobs published before the death are listed with their queues
        queued = job_lifecycle.queued_before(factory, death)
        assert queued.get(lost.job_id) == "chat.en"
        assert not {started.job_id, published_again.job_id, later.job_id} & set(queued)
        # and of the four, only the lost one is claimed, once, with its text
        ids = [lost.job_id, started.job_id, published_again.job_id, later.job_id]
        claimed = job_lifecycle.claim_lost(factory, ids, death)
        assert [(job.job_id, job.text) for job in claimed] == [(lost.job_id, "a")]
        assert job_lifecycle.claim_lost(factory, ids, death) == []
        assert lost.job_id not in job_lifecycle.queued_before(factory, death)


def test_a_started_job_handed_back_is_queued_again_and_a_clean_stop_forgets_the_worker(
    migrated_store_url: str,
):
    with store.session_factory(migrated_store_url) as factory:
        job = _queued(factory, new_id(), "hello")
        store.start_job(factory, job.job_id, "w1@h")
        job_lifecycle.requeue_jobs(factory, [job.job_id], "other@h")  # not its worker: untouched
        assert views.get_job(factory, job.job_id).status is JobStatus.RUNNING
        job_lifecycle.requeue_jobs(factory, [job.job_id], "w1@h")
        assert views.get_job(factory, job.job_id).status is JobStatus.QUEUED
        liveness.beat(factory, "w1@h", utcnow())
        liveness.beat(factory, "w1@h", utcnow())  # a second beat updates the same row
        with factory() as session:
            assert session.query(WorkerBeat).filter_by(name="w1@h").count() == 1
        liveness.forget(factory, "w1@h")
        with factory() as session:
            assert session.query(WorkerBeat).filter_by(name="w1@h").count() == 0


def test_the_watchdog_ends_jobs_long_past_their_deadline_and_a_late_answer_still_wins(
    migrated_store_url: str,
):
    with store.session_factory(migrated_store_url) as factory:
        past = utcnow() - timedelta(minutes=10)
        lost, running, fresh, done = (_queued(factory, new_id(), text) for text in ("a", "b", "c", "d"))
        store.start_job(factory, running.job_id, "w@h")
        store.store_answer(factory, _done(done, "answered"))
        for job in (lost, running, done):
            _set(factory, jobs_table, "job_id", job.job_id, deadline_at=past)
        _set(factory, jobs_table, "job_id", fresh.job_id, deadline_at=utcnow() + timedelta(minutes=10))
        expired = set(job_lifecycle.expire_overdue(factory, timedelta(minutes=5)))
        assert {lost.job_id, running.job_id} <= expired and not {fresh.job_id, done.job_id} & expired
        view = views.get_job(factory, lost.job_id)
        assert (
            view is not None and view.status is JobStatus.EXPIRED and "never answered" in (view.error or "")
        )
        assert views.get_job(factory, done.job_id).status is JobStatus.DONE
        # the running one's worker answers after all: its answer replaces the expiry
        assert store.store_answer(factory, _done(running, "late but right")) is True
        assert views.get_job(factory, running.job_id).status is JobStatus.DONE
