"""Response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from core.jobs import JobStatus, Timings
from persistence.views import JobView, Turn
from routing.table import HandlingKind, RoutingTable


class Accepted(BaseModel):
    """202: the job is stored and queued."""

    job_id: str
    conversation_id: str
    language: str
    language_source: str
    queue: str
    status: JobStatus
    handling: HandlingKind = "model"
    """model: answered in its language; default_language: its profile's model does not answer
    that language, so the answer is in the channel's default language after a line saying so;
    human: handed to people on the routing table's human queue."""


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
    handling: HandlingKind = "model"

    @classmethod
    def of(cls, view: JobView, table: RoutingTable | None = None) -> JobOut:
        """The job as the API shows it; with the routing table, how it is handled (see Accepted)."""
        handling = _handling(view, table) if table is not None else "model"
        return cls(**view.__dict__, handling=handling)


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


def _handling(view: JobView, table: RoutingTable) -> HandlingKind:
    """A job on the people's queue was handed to them, whatever the table says now."""
    return (
        "human"
        if view.queue == table.unanswered.human_queue
        else table.handling(view.language, view.channel).kind
    )
