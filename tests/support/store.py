"""A store for a test, and one-job forms of the store's batch functions for tests that set up or
check a single job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import EarlierTurnPending, JobNotFound
from core.jobs import ChatAnswer, ChatJob, JobStatus
from persistence.db import SessionFactory, make_engine, make_session_factory
from persistence.job_lifecycle import Begun, begin_jobs, store_answers
from persistence.user_turns import UserTurn, record_user_turns
from persistence.views import Turn, get_turns_page


@contextmanager
def session_factory(url: str) -> Iterator[SessionFactory]:
    """Sessions on the store at `url`; its engine is disposed of afterwards."""
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def record_user_turn(
    factory: SessionFactory, job: ChatJob, language_source: str, *, new_conversation: bool = False
) -> bool:
    """Store one user's message and its queued job; True when the conversation was created."""
    return record_user_turns(factory, [UserTurn(job, language_source, new_conversation)])[0]


def begin_job(factory: SessionFactory, job_id: str, worker: str, history: int) -> Begun:
    """Start one job; its refusal (unknown job, earlier turn pending) is raised."""
    outcome = begin_jobs(factory, [(job_id, worker)], history)[0]
    if isinstance(outcome, JobNotFound | EarlierTurnPending):
        raise outcome
    return outcome


def start_job(factory: SessionFactory, job_id: str, worker: str) -> JobStatus:
    """Start one job without reading its history; returns the status it had before."""
    return begin_job(factory, job_id, worker, history=0)[0]


def store_answer(factory: SessionFactory, answer: ChatAnswer) -> bool:
    """Write one job's outcome: True when written now, False when it was already final."""
    outcome = store_answers(factory, [answer])[0]
    if isinstance(outcome, JobNotFound):
        raise outcome
    return outcome


def get_turns(factory: SessionFactory, conversation_id: str) -> list[Turn] | None:
    """Every turn of a conversation in order, or None when it does not exist."""
    page = get_turns_page(factory, conversation_id, limit=None)
    return None if page is None else page[0]
