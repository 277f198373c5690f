"""The producer side of the store: a user's message and its queued job, written before the job
is published (undone if publishing fails), or a first question answered from the cache."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.errors import ConversationExists, ConversationNotFound
from core.jobs import ChatAnswer, ChatJob, JobStatus, utcnow
from persistence.db import SessionFactory, connect
from persistence.models import Conversation, Job, Message
from persistence.outcomes import write_outcome
from persistence.tables import INSERT_MESSAGE, USER, conversations, jobs

_LANGUAGE = select(conversations.c.language).where(conversations.c.id == bindparam("b_id"))
_EXISTING = select(conversations.c.id, conversations.c.channel, conversations.c.visitor).where(
    conversations.c.id.in_(bindparam("b_ids", expanding=True))
)
_TOUCH = (
    update(conversations)
    .where(conversations.c.id == bindparam("b_id"))
    .values(language=bindparam("b_language"), updated_at=bindparam("b_now"))
)
_INSERT_CONVERSATION = insert(conversations)
_INSERT_JOB = insert(jobs)
_MARK_CACHED = update(jobs).where(jobs.c.job_id == bindparam("b_id")).values(cached=True)


class UserTurn(NamedTuple):
    """A user's message to store with its job. `new_conversation`: the caller has just made the
    conversation id up, so there is nothing to look for first. `visitor`: the visitor session that
    posts it (None: the channel's integration), which a conversation it creates belongs to."""

    job: ChatJob
    source: str
    new_conversation: bool
    visitor: str | None = None


def conversation_language(factory: SessionFactory, conversation_id: str) -> str | None:
    """The language the conversation was last answered in, or None for a new conversation."""
    with connect(factory) as connection:
        return connection.execute(_LANGUAGE, {"b_id": conversation_id}).scalar()


def record_user_turns(factory: SessionFactory, turns: Sequence[UserTurn]) -> list[bool]:
    """Store each user's message and its queued job, in one transaction (see
    persistence.db.GroupCommit); True for each turn whose conversation it created."""
    try:
        return _record_user_turns(factory, turns, assume_new=True)
    except IntegrityError:
        # Another request created the same new conversation at the same moment: it exists now.
        return _record_user_turns(factory, turns, assume_new=False)


def _record_user_turns(factory: SessionFactory, turns: Sequence[UserTurn], assume_new: bool) -> list[bool]:
    with connect(factory, write=True) as connection:
        return _record(connection, turns, assume_new, utcnow())


def _record(connection: Connection, turns: Sequence[UserTurn], assume_new: bool, now: datetime) -> list[bool]:
    """The turns' conversations, messages and jobs, a few statements for the whole group."""
    created = _conversations(connection, turns, assume_new, now)
    connection.execute(INSERT_MESSAGE, [_user_message(turn.job, now) for turn in turns])
    connection.execute(_INSERT_JOB, [_queued_job(turn.job, turn.source) for turn in turns])
    return created


def _conversations(
    connection: Connection, turns: Sequence[UserTurn], assume_new: bool, now: datetime
) -> list[bool]:
    """Create the conversations that do not exist yet and touch the others (language, time);
    True for each turn whose conversation this created. With `assume_new`, a conversation id the
    caller has just made up is not looked for. A turn into a conversation its poster does not own
    raises ConversationNotFound: ownership is decided by the insert (the id is the primary key),
    so two channels racing for a new id cannot both get it."""
    unsure = list({turn.job.conversation_id for turn in turns if not (turn.new_conversation and assume_new)})
    rows = connection.execute(_EXISTING, {"b_ids": unsure}).all() if unsure else []
    owners: dict[str, tuple[str, str | None]] = {row.id: (row.channel, row.visitor) for row in rows}
    inserts: dict[str, dict[str, Any]] = {}
    touches: dict[str, dict[str, Any]] = {}
    created = []
    for turn in turns:
        cid = turn.job.conversation_id
        owner = owners.get(cid)
        if owner is None:
            inserts[cid] = _conversation(turn, now)
            owners[cid] = (turn.job.channel, turn.visitor)
        else:
            _check_owner(turn, *owner)
            # the latest turn's language wins, as it would one turn at a time
            touches[cid] = {"b_id": cid, "b_language": turn.job.language, "b_now": now}
        created.append(owner is None)
    if inserts:
        connection.execute(_INSERT_CONVERSATION, list(inserts.values()))
    if touches:
        connection.execute(_TOUCH, list(touches.values()))
    return created


def _check_owner(turn: UserTurn, channel: str, visitor: str | None) -> None:
    """A channel's integration writes into its channel's conversations; a visitor's conversation
    takes that visitor's messages only (no one else's text shows in it as the visitor's)."""
    if channel != turn.job.channel or visitor != turn.visitor:
        raise ConversationNotFound(f"no conversation {turn.job.conversation_id}")


def _conversation(turn: UserTurn, now: datetime) -> dict[str, Any]:
    return {
        "id": turn.job.conversation_id,
        "channel": turn.job.channel,
        "visitor": turn.visitor,
        "language": turn.job.language,
        "created_at": now,
        "updated_at": now,
    }


def record_cached_answer(factory: SessionFactory, turn: UserTurn, answer: ChatAnswer) -> bool:
    """A first question answered from the cache: its user turn, its job (done, cached) and the
    assistant turn, in one transaction — stored like any other answered job. Only when this
    transaction creates the conversation: then no other turn of it can exist or race this one.
    False (and nothing stored) when the conversation exists already."""
    try:
        with connect(factory, write=True) as connection:
            if not _record(connection, [turn], assume_new=turn.new_conversation, now=utcnow())[0]:
                raise ConversationExists(turn.job.conversation_id)  # rolls the user turn back
            write_outcome(connection, answer)
            connection.execute(_MARK_CACHED, {"b_id": answer.job_id})
        return True
    except (ConversationExists, IntegrityError):  # IntegrityError: a concurrent request created it first
        return False


def _user_message(job: ChatJob, now: datetime) -> dict[str, Any]:
    return {
        "conversation_id": job.conversation_id,
        "job_id": job.job_id,
        "role": USER,
        "text": job.text,
        "language": job.language,
        "created_at": now,
    }


def _queued_job(job: ChatJob, language_source: str) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "conversation_id": job.conversation_id,
        "status": JobStatus.QUEUED.value,
        "channel": job.channel,
        "user_ref": job.user_ref,
        "language": job.language,
        "language_source": language_source,
        "queue": job.queue,
        "profile": job.profile,
        "created_at": job.created_at,
        "attempts": 0,
        "published_at": job.created_at,
        "deadline_at": job.deadline_at,
    }


def discard_unpublished(factory: SessionFactory, job: ChatJob, conversation_created: bool) -> None:
    """Undo a recorded user turn whose job the broker never took, so no half-written state remains."""
    with factory.begin() as session:
        session.execute(delete(Message).where(Message.job_id == job.job_id))
        session.execute(delete(Job).where(Job.job_id == job.job_id))
        if conversation_created:
            session.execute(delete(Conversation).where(Conversation.id == job.conversation_id))
