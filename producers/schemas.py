"""Response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from core.jobs import JobStatus, Timings
from persistence.views import JobView, Turn


class Accepted(BaseModel):
    """202: the job is stored and queued."""

    job_id: str
    conversation_id: str
    language: str
    language_source: str
    queue: str
    status: JobStatus


class JobOut(BaseModel):
    """A job's state, and its answer once done."""

    job_id: str
    conversation_id: str
    status: JobStatus
    answer: str | None
    language: str
    language_source: str
    queue: str
    model: str | None
    error: str | None
    timings: Timings
    batch_size: int | None
    worker: str | None
    created_at: datetime
    cached: bool = False
    deadline_at: datetime | None = None

    @classmethod
    def of(cls, view: JobView) -> JobOut:
        return cls(**view.__dict__)


class TurnOut(BaseModel):
    turn_id: int
    role: str
    text: str
    language: str | None
    created_at: datetime
    job_id: str
    queue: str | None = None

    @classmethod
    def of(cls, turn: Turn) -> TurnOut:
        return cls(**turn.__dict__)


class ConversationOut(BaseModel):
    conversation_id: str
    turns: list[TurnOut]
    next_before: int | None = None
    """Pass as `before` to get the page of older turns; None on the oldest page."""
