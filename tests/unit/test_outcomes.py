"""Every end of a job's passage through a worker settles its message one way, decided in one place."""

from __future__ import annotations

import pytest

from core.errors import EarlierTurnPending, JobNotFound
from core.jobs import ChatAnswer, ChatJob, JobStatus, new_id
from workers.outcomes import (
    ORDER_RECHECK_S,
    Ack,
    Answered,
    DeadLetter,
    Duplicate,
    Expired,
    FailedByModel,
    FailedOnInput,
    HandBack,
    HandedBack,
    Outcome,
    RetriesSpent,
    Retry,
    Settlement,
    Stored,
    Unreadable,
    settlement,
    stored_as,
)

JOB = ChatJob(job_id=new_id(), conversation_id=new_id(), text="hi", language="en", queue="chat.en")


def _answer(status: JobStatus, error: str | None = None) -> ChatAnswer:
    return ChatAnswer(job_id=JOB.job_id, language="en", status=status, error=error, model="m")


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Answered(_answer(JobStatus.DONE)), Ack("done")),
        (Expired(_answer(JobStatus.EXPIRED, "deadline passed")), Ack("expired")),
        (FailedOnInput(_answer(JobStatus.FAILED, "too large")), Ack("failed")),
        (Duplicate(), Ack("duplicate")),
        (JobNotFound(JOB.job_id), Ack("unknown job")),
        (FailedByModel(JOB, "CUDA error", suspect=True), Retry(JOB, "CUDA error", suspect=True)),
        (
            RetriesSpent(_answer(JobStatus.FAILED, "CUDA error (after 3 attempts)")),
            DeadLetter("retries exhausted", "CUDA error (after 3 attempts)"),
        ),
        (Unreadable("malformed", "no text"), DeadLetter("malformed", "no text")),
        (HandedBack("breaker open"), HandBack("breaker open")),
        (EarlierTurnPending("waits"), HandBack("waits", after_s=ORDER_RECHECK_S)),
    ],
)
def test_each_outcome_settles_its_message_as_the_pipeline_always_has(outcome: Outcome, expected: Settlement):
    # given a job's passage ending in `outcome`, when its message is settled
    # expect the settlement the pipeline carries out
    assert settlement(outcome) == expected


def test_the_stores_own_answers_read_as_what_storing_did():
    # given the store's answers for three jobs, when read, expect what storing did to each
    assert [stored_as(r) for r in (True, False, JobNotFound("x"))] == [
        Stored.WRITTEN,
        Stored.ALREADY_DONE,
        Stored.UNKNOWN_JOB,
    ]
