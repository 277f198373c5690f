"""The store on SQLite and PostgreSQL: migrations both ways, idempotent answers."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from core.jobs import ChatAnswer, ChatJob, JobStatus, new_id
from persistence.db import make_engine, make_session_factory
from persistence.migrate import downgrade, upgrade
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
