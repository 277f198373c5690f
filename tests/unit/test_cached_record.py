"""Storing a cache hit: all or nothing, and only for a conversation it creates itself."""

from __future__ import annotations

from core.jobs import ChatAnswer, ChatJob, JobStatus, new_id
from persistence import user_turns, views
from persistence.db import make_engine, make_session_factory
from persistence.migrate import upgrade
from tests.support import store


def _job(conversation_id: str) -> ChatJob:
    return ChatJob(
        job_id=new_id(), conversation_id=conversation_id, text="Hi?", language="en", queue="chat.en"
    )


def _answer(job: ChatJob) -> ChatAnswer:
    return ChatAnswer(
        job_id=job.job_id, text="Hello!", language="en", model="answer-cache", status=JobStatus.DONE
    )


def test_a_hit_is_stored_as_an_answered_cached_job_only_when_it_opens_the_conversation(sqlite_url: str):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    factory = make_session_factory(engine)
    fresh = _job(new_id())
    assert (
        user_turns.record_cached_answer(
            factory, user_turns.UserTurn(fresh, "explicit", False), _answer(fresh)
        )
        is True
    )
    view = views.get_job(factory, fresh.job_id)
    assert view is not None and view.status is JobStatus.DONE and view.cached and view.answer == "Hello!"
    # Another message raced into the same conversation first: the hit is refused, nothing kept
    late = _job(fresh.conversation_id)
    assert (
        user_turns.record_cached_answer(factory, user_turns.UserTurn(late, "explicit", False), _answer(late))
        is False
    )
    assert views.get_job(factory, late.job_id) is None
    assert len(store.get_turns(factory, fresh.conversation_id) or []) == 2
    engine.dispose()
