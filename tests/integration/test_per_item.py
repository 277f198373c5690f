"""Each chat job stays its own Celery task with its own outcome, even when jobs share a batch."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.jobs import ChatJob, JobStatus, new_id, utcnow
from core.settings import load_settings
from persistence import views
from persistence.migrate import upgrade
from producers.stack import build_stack
from tests.support import store
from tests.support.processes import babelq_env, babelq_process, wait_until
from transport.queues import publish_job

pytestmark = pytest.mark.integration


def test_an_expired_job_fails_alone_and_its_neighbours_are_answered(
    redis_url: str, tiny_model_dir: Path, tmp_path: Path
):
    store_url = f"sqlite:///{tmp_path / 'babelq.db'}"
    upgrade(store_url)
    values = dict(
        broker_url=redis_url,
        database_url=store_url,
        model=str(tiny_model_dir),
        max_new_tokens="4",
        var_dir=str(tmp_path),
    )
    stack = build_stack(load_settings(**values))
    jobs = [
        ChatJob(
            job_id=new_id(),
            conversation_id=new_id(),
            text=f"question {i}",
            language="en",
            queue="chat.en",
            deadline_at=utcnow() - timedelta(seconds=1) if i == 2 else None,
        )
        for i in range(5)
    ]
    for job in jobs:
        store.record_user_turn(stack.factory, job, "explicit")
        publish_job(stack.celery, job)
    log = tmp_path / "worker.log"
    with babelq_process(["worker", "--queues", "chat.en"], babelq_env(**values), log, ready_marker="ready."):
        # its own jobs final (the shared broker may hold other tests' leftovers, answered too)
        wait_until(lambda: all(_final(stack, job.job_id) for job in jobs), 60, "5 jobs final", log)
    found = [views.get_job(stack.factory, job.job_id) for job in jobs]
    assert [v.status for v in found if v] == [JobStatus.DONE] * 2 + [JobStatus.EXPIRED] + [JobStatus.DONE] * 2
    assert all(v and v.answer is not None for i, v in enumerate(found) if i != 2)  # an assistant turn each
    assert found[2] and found[2].answer is None and "deadline" in (found[2].error or "")
    stack.close()


def _final(stack, job_id: str) -> bool:
    view = views.get_job(stack.factory, job_id)
    return view is not None and view.status.final
