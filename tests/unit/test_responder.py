"""The Responder's outcomes: the job's own fault fails it, the model's fault is ModelFailed (the
task retries it elsewhere), a worker that refuses work touches nothing."""

from __future__ import annotations

import pytest

from core.errors import BreakerOpen, ModelFailed
from core.jobs import ChatJob, JobStatus, new_id
from persistence import views
from persistence.db import SessionFactory
from routing.table import load_table
from tests.support import store
from workers.batcher import Batcher, BatchPolicy
from workers.feeders import PromptRequest
from workers.responder import Responder
from workers.runners.base import Generation

# The responder over one store: SQLite (the store tests cover PostgreSQL).
pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _responder(factory: SessionFactory, run, budget: int = 10_000, admit=lambda: None) -> Responder:
    batcher: Batcher[PromptRequest, Generation] = Batcher(BatchPolicy(4, 1, budget), run)
    batcher.start()
    profile = load_table(None).profiles["default"]
    return Responder(
        factory, batcher, profile, "tiny", lambda messages: 10, history_turns=4, timeout_s=5, admit=admit
    )


def _job(factory: SessionFactory, text: str = "Where is my parcel?") -> ChatJob:
    job = ChatJob(job_id=new_id(), conversation_id=new_id(), text=text, language="en", queue="chat.en")
    store.record_user_turn(factory, job, "explicit")
    return job


def _broken(requests: list[PromptRequest]) -> list[Generation]:
    raise RuntimeError("CUDA error: device-side assert")


def test_a_model_failure_is_model_failed_and_nothing_final_is_stored(factory: SessionFactory):
    job = _job(factory)
    with pytest.raises(ModelFailed, match="RuntimeError: CUDA error"):
        _responder(factory, _broken).answer(job, "w1")
    view = views.get_job(factory, job.job_id)
    assert view is not None and view.status is JobStatus.RUNNING and view.answer is None


def test_a_job_too_large_for_the_budget_fails_at_once(factory: SessionFactory):
    job = _job(factory)
    answer = _responder(factory, _broken, budget=20).answer(job, "w1")  # 10 prompt + 64 new > 20
    view = views.get_job(factory, job.job_id)
    assert answer is not None and answer.status is JobStatus.FAILED
    assert view is not None and view.status is JobStatus.FAILED and "budget" in (view.error or "")


def test_a_refusing_worker_raises_before_touching_the_store(factory: SessionFactory):
    job = _job(factory)

    def refuse() -> None:
        raise BreakerOpen("open")

    with pytest.raises(BreakerOpen):
        _responder(factory, _broken, admit=refuse).answer(job, "w1")
    view = views.get_job(factory, job.job_id)
    assert view is not None and view.status is JobStatus.QUEUED and view.worker is None


def test_fail_stores_the_final_failure_once_retries_are_spent(factory: SessionFactory):
    job = _job(factory)
    responder = _responder(factory, _broken)
    with pytest.raises(ModelFailed):
        responder.answer(job, "w1")
    responder.fail(job, "w1", "RuntimeError: CUDA error (after 6 attempts)")
    view = views.get_job(factory, job.job_id)
    assert view is not None and view.status is JobStatus.FAILED and "6 attempts" in (view.error or "")


def test_a_follow_ups_prompt_carries_the_previous_turn(factory: SessionFactory):
    seen: list[list[dict[str, str]]] = []

    def echo(requests: list[PromptRequest]) -> list[Generation]:
        seen.extend(r.messages for r in requests)
        return [Generation(f"answer {len(seen)}", 10, 2, "stop") for _ in requests]

    responder = _responder(factory, echo)
    first = _job(factory, "Where is my parcel?")
    responder.answer(first, "w1")
    follow_up = ChatJob(
        job_id=new_id(),
        conversation_id=first.conversation_id,
        text="And now?",
        language="en",
        queue="chat.en",
    )
    store.record_user_turn(factory, follow_up, "explicit")
    responder.answer(follow_up, "w1")
    assert [m["content"] for m in seen[1][1:]] == ["Where is my parcel?", "answer 1", "And now?"]
