"""Keeping the store: purge old conversations (with their turns and jobs), export one as JSON."""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from core.errors import InvalidInput
from core.jobs import JobStatus, utcnow
from persistence.db import SessionFactory
from persistence.models import Conversation, Job, Message

_AGE = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNFINISHED = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]


def parse_age(text: str) -> timedelta:
    """ "30d", "12h", "90m", "2w", "45s" → a timedelta; anything else is InvalidInput."""
    match = _AGE.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(f"an age looks like 30d, 12h, 90m, 2w or 45s (more than 0), got {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@dataclass(frozen=True)
class PurgeCounts:
    conversations: int
    messages: int
    jobs: int


def purge(
    factory: SessionFactory,
    older_than: timedelta,
    dry_run: bool,
    now: datetime | None = None,
    chunk: int = 500,
) -> PurgeCounts:
    """Conversations untouched for `older_than` go, with their turns and jobs, `chunk` at a time
    (one transaction each); one with a job still queued or running stays. `dry_run` only counts."""
    cutoff = (now or utcnow()) - older_than
    if dry_run:
        return _count_idle(factory, cutoff)
    total = PurgeCounts(0, 0, 0)
    while (removed := _purge_chunk(factory, cutoff, chunk)).conversations:
        total = PurgeCounts(*(a + b for a, b in zip(astuple(total), astuple(removed), strict=True)))
    return total


def _purge_chunk(factory: SessionFactory, cutoff: datetime, chunk: int) -> PurgeCounts:
    """The chosen conversations are locked first (PostgreSQL), so a message arriving for one of
    them meanwhile waits, then finds it gone and starts a new one (see user_turns._record_turn)."""
    with factory.begin() as session:
        query = _idle(cutoff).limit(chunk).with_for_update(skip_locked=True)
        ids = list(session.scalars(query))
        counts = PurgeCounts(len(ids), _count(session, Message, ids), _count(session, Job, ids))
        for model in (Message, Job):
            session.execute(delete(model).where(model.conversation_id.in_(ids)))
        session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    return counts


def _count_idle(factory: SessionFactory, cutoff: datetime) -> PurgeCounts:
    idle = _idle(cutoff).scalar_subquery()
    with factory() as session:
        conversations = session.scalar(select(func.count()).select_from(_idle(cutoff).subquery()))
        messages = session.scalar(select(func.count()).where(Message.conversation_id.in_(idle)))
        jobs = session.scalar(select(func.count()).where(Job.conversation_id.in_(idle)))
    return PurgeCounts(int(conversations or 0), int(messages or 0), int(jobs or 0))


def _idle(cutoff: datetime) -> Any:
    busy = select(Job.conversation_id).where(Job.status.in_(_UNFINISHED))
    return select(Conversation.id).where(Conversation.updated_at < cutoff, Conversation.id.not_in(busy))


def _count(session: Any, model: type[Message] | type[Job], ids: list[str]) -> int:
    if not ids:
        return 0
    return int(session.scalar(select(func.count()).select_from(model).where(model.conversation_id.in_(ids))))


def export_conversation(factory: SessionFactory, conversation_id: str) -> dict[str, Any] | None:
    """The conversation, its turns (with model and token counts) and its jobs, as plain JSON data."""
    with factory() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return None
        turns = session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        )
        jobs = session.scalars(
            select(Job).where(Job.conversation_id == conversation_id).order_by(Job.created_at)
        )
        return {
            **_columns(conversation),
            "turns": [_columns(t) for t in turns],
            "jobs": [_columns(j) for j in jobs],
        }


def _columns(row: Conversation | Message | Job) -> dict[str, Any]:
    values = {column.key: getattr(row, column.key) for column in row.__table__.columns}
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}
