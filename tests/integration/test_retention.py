"""Purging, exporting and paging the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from core.errors import InvalidInput
from core.jobs import ChatAnswer, ChatJob, JobStatus, new_id, utcnow
from core.settings import load_settings
from persistence import job_lifecycle
from persistence.db import SessionFactory
from persistence.models import Conversation
from persistence.retention import export_conversation, parse_age, purge
from producers.api import create_app
from producers.stack import build_stack
from tests.support import store
from tests.support.processes import BABELQ, babelq_env

pytestmark = pytest.mark.integration


def _conversation(factory: SessionFactory, turns: int, answered: bool = True) -> str:
    conversation_id = new_id()
    for i in range(turns):
        job = ChatJob(
            job_id=new_id(),
            conversation_id=conversation_id,
            text=f"question {i}",
            language="en",
            queue="chat.en",
        )
        store.record_user_turn(factory, job, "explicit")
        if answered:
            store.store_answer(
                factory,
                ChatAnswer(
                    job_id=job.job_id,
                    text=f"answer {i}",
                    language="en",
                    model="tiny",
                    status=JobStatus.DONE,
                    prompt_tokens=7,
                    completion_tokens=3,
                ),
            )
    return conversation_id


def _age(factory: SessionFactory, conversation_id: str, days: int) -> None:
    with factory.begin() as session:
        then = utcnow() - timedelta(days=days)
        session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(updated_at=then)
        )


def test_purge_counts_first_then_removes_old_conversations_with_their_turns_and_jobs(factory: SessionFactory):
    old, busy, recent = (
        _conversation(factory, 2),
        _conversation(factory, 1, answered=False),
        _conversation(factory, 1),
    )
    _age(factory, old, 40)
    _age(factory, busy, 40)  # a job still queued: it stays
    dry = purge(factory, parse_age("30d"), dry_run=True)
    assert (dry.conversations, dry.messages, dry.jobs) == (1, 4, 2)
    assert export_conversation(factory, old) is not None  # the dry run removed nothing
    assert purge(factory, parse_age("30d"), dry_run=False) == dry
    assert export_conversation(factory, old) is None
    assert export_conversation(factory, busy) is not None and export_conversation(factory, recent) is not None
    assert purge(factory, parse_age("30d"), dry_run=False).conversations == 0


def test_export_has_every_turn_with_model_and_tokens_and_every_job(factory: SessionFactory):
    conversation_id = _conversation(factory, 2)
    data = export_conversation(factory, conversation_id)
    assert data is not None and data["id"] == conversation_id
    assert [t["role"] for t in data["turns"]] == ["user", "assistant"] * 2
    assert data["turns"][1]["model"] == "tiny" and data["turns"][1]["completion_tokens"] == 3
    assert [j["status"] for j in data["jobs"]] == ["done", "done"]
    json.dumps(data)  # plain JSON data


@pytest.mark.parametrize("bad", ["30", "d", "-3d", "0d", "3y", ""])
def test_a_bad_age_is_a_clear_error(bad: str):
    with pytest.raises(InvalidInput, match="30d"):
        parse_age(bad)


def test_conversations_page_backwards_with_limit_and_before(migrated_store_url: str, redis_url: str):
    stack = build_stack(load_settings(broker_url=redis_url, database_url=migrated_store_url))
    conversation_id = _conversation(stack.factory, 5)  # 10 turns
    with TestClient(create_app(stack)) as client:
        seen: list[str] = []
        url = f"/v1/conversations/{conversation_id}?limit=4"
        while url:
            page = client.get(url).json()
            seen = [t["text"] for t in page["turns"]] + seen
            before = page["next_before"]
            url = f"/v1/conversations/{conversation_id}?limit=4&before={before}" if before else ""
        assert seen == [text for i in range(5) for text in (f"question {i}", f"answer {i}")]
        everything = client.get(f"/v1/conversations/{conversation_id}").json()
        assert len(everything["turns"]) == 10 and everything["next_before"] is None
        assert client.get(f"/v1/conversations/{conversation_id}?limit=0").status_code == 422
    stack.close()


def test_cli_purge_is_a_dry_run_unless_told_and_export_prints_json(
    migrated_store_url: str, factory: SessionFactory
):
    conversation_id = _conversation(factory, 1)
    _age(factory, conversation_id, 40)
    env = babelq_env(database_url=migrated_store_url)

    def babelq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([BABELQ, *args], env=env, capture_output=True, text=True, timeout=60)

    exported = babelq("export", "conversation", conversation_id)
    assert exported.returncode == 0 and json.loads(exported.stdout)["id"] == conversation_id
    dry = babelq("db", "purge", "--older-than", "30d")
    assert dry.returncode == 0 and "would remove 1 conversations, 2 turns, 1 jobs" in dry.stdout
    assert "dry run" in dry.stdout
    done = babelq("db", "purge", "--older-than", "30d", "--yes")
    assert done.returncode == 0 and "removed 1 conversations" in done.stdout
    missing = babelq("export", "conversation", conversation_id)
    assert missing.returncode == 2 and "no conversation" in missing.stderr
    assert babelq("db", "purge", "--older-than", "soon").returncode == 2


def test_purge_works_through_many_conversations_a_chunk_at_a_time(factory: SessionFactory):
    olds = [_conversation(factory, 1) for _ in range(5)]
    for cid in olds:
        _age(factory, cid, 400)
    counts = purge(factory, parse_age("52w"), dry_run=False, chunk=2)
    assert (counts.conversations, counts.messages, counts.jobs) == (5, 10, 5)
    assert all(export_conversation(factory, cid) is None for cid in olds)


def test_a_job_published_long_ago_and_never_started_is_claimed_once_for_republishing(factory: SessionFactory):
    lost, started = _conversation(factory, 1, answered=False), _conversation(factory, 1, answered=False)
    started_job = export_conversation(factory, started)["jobs"][0]["job_id"]  # type: ignore[index]
    store.begin_job(factory, started_job, "w1", history=0)
    assert job_lifecycle.claim_unstarted(factory, timedelta(hours=1)) == []  # not stalled yet
    claimed = job_lifecycle.claim_unstarted(factory, timedelta(0))
    mine = [job for job in claimed if job.conversation_id in (lost, started)]
    assert [job.conversation_id for job in mine] == [lost] and mine[0].text == "question 0"
    again = job_lifecycle.claim_unstarted(factory, timedelta(seconds=30))
    assert lost not in {job.conversation_id for job in again}  # its publish time moved to now
