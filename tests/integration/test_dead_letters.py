"""The dead-letter queue on Redis and RabbitMQ: what lands there, `babelq dead list | show |
replay | purge`, and a replay that puts a failed job back to work."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from core.jobs import ChatAnswer, ChatJob, JobStatus, new_id
from persistence import views
from tests.support import store
from tests.support.jobs import fresh_stack, waiting_ids
from tests.support.processes import BABELQ, babelq_env
from transport.dead_letters import dead_letter, purge_dead_letters, walk_dead_letters

pytestmark = pytest.mark.integration
DEAD = "chat.dead"


@pytest.fixture(params=["redis", "amqp"])
def values(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    return {
        "broker_url": str(request.getfixturevalue(f"{request.param}_url")),
        "database_url": f"sqlite:///{tmp_path / 'babelq.db'}",
    }


def _dead(values: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BABELQ, "dead", *args], env=babelq_env(**values), capture_output=True, text=True, timeout=60
    )


def test_dead_letters_are_listed_shown_replayed_once_and_purged(values: dict[str, str]):
    stack = fresh_stack(values)
    purge_dead_letters(stack.celery, DEAD)
    # given a job that failed through its retries, and a message that is no job at all
    job = ChatJob(job_id=new_id(), conversation_id=new_id(), text="hello", language="en", queue="chat.en")
    store.record_user_turn(stack.factory, job, "explicit")
    store.start_job(stack.factory, job.job_id, "w@h")
    store.store_answer(stack.factory, store_failed(job))
    dead_letter(
        stack.celery,
        DEAD,
        job.to_wire(),
        reason="retries exhausted",
        error="RuntimeError: CUDA",
        source="chat.en",
    )
    dead_letter(
        stack.celery,
        DEAD,
        {"v": 1, "text": 3},
        reason="malformed",
        error="text: not a string",
        source="chat.en",
    )
    listed = [json.loads(line) for line in _dead(values, "list").stdout.splitlines()]
    assert [(x["reason"], x["job_id"]) for x in listed] == [
        ("retries exhausted", job.job_id),
        ("malformed", None),
    ]
    assert _dead(values, "list").stdout.count("\n") == 2  # listing changes nothing
    shown = json.loads(_dead(values, "show", job.job_id).stdout)
    assert shown["payload"]["text"] == "hello" and shown["error"] == "RuntimeError: CUDA"
    # replaying the job queues it again and publishes it; the malformed one cannot be replayed
    replayed = json.loads(_dead(values, "replay", "--all").stdout)
    assert replayed["replayed"] == [job.job_id] and len(replayed["kept"]) == 1
    view = views.get_job(stack.factory, job.job_id)
    assert view is not None and view.status is JobStatus.QUEUED and view.error is None
    assert waiting_ids(stack.celery, "chat.en") == [job.job_id]
    assert _dead(values, "replay", job.job_id).returncode == 1  # replayed already: no letter left for it
    assert "purged 1 dead letter(s)" in _dead(values, "purge").stdout
    assert walk_dead_letters(stack.celery, DEAD) == []
    stack.close()


def store_failed(job: ChatJob) -> ChatAnswer:
    return ChatAnswer(job_id=job.job_id, language="en", status=JobStatus.FAILED, model="m", error="x")
