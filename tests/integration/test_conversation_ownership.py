"""A conversation belongs to the channel (and, for the web page, the visitor) whose message made
it, decided by the insert itself: on SQLite and PostgreSQL, a stranger's turn into it is refused
and leaves nothing behind, and two channels racing for one new id cannot both get it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from core.errors import ConversationNotFound
from core.jobs import ChatJob, new_id
from persistence.db import SessionFactory
from persistence.models import Conversation, Job, Message
from persistence.user_turns import UserTurn, record_user_turns


def _turn(conversation_id: str, channel: str, visitor: str | None = None, new: bool = True) -> UserTurn:
    job = ChatJob(
        job_id=new_id(),
        conversation_id=conversation_id,
        channel=channel,
        text="hello",
        language="en",
        queue="chat.en",
    )
    return UserTurn(job, "explicit", new, visitor)


def _count(factory: SessionFactory, model: type[Job] | type[Message], conversation_id: str) -> int:
    """Rows of this conversation only: the PostgreSQL database is shared by the whole run."""
    query = select(func.count()).select_from(model).where(model.conversation_id == conversation_id)
    with factory() as session:
        return int(session.scalar(query) or 0)


def _owner(factory: SessionFactory, conversation_id: str) -> tuple[str, str | None]:
    with factory() as session:
        row = session.get(Conversation, conversation_id)
        assert row is not None
        return row.channel, row.visitor


def test_another_channels_turn_is_refused_and_stores_nothing(factory: SessionFactory):
    cid = new_id()
    assert record_user_turns(factory, [_turn(cid, "telegram")]) == [True]
    with pytest.raises(ConversationNotFound):
        record_user_turns(factory, [_turn(cid, "other", new=False)])
    with pytest.raises(ConversationNotFound):  # claiming the id is new changes nothing
        record_user_turns(factory, [_turn(cid, "other", new=True)])
    assert (_count(factory, Job, cid), _count(factory, Message, cid)) == (1, 1)
    assert record_user_turns(factory, [_turn(cid, "telegram", new=False)]) == [False]
    assert _owner(factory, cid) == ("telegram", None)


def test_a_visitors_conversation_takes_only_that_visitors_messages(factory: SessionFactory):
    cid = new_id()
    record_user_turns(factory, [_turn(cid, "web", visitor="v-1")])
    with pytest.raises(ConversationNotFound):
        record_user_turns(factory, [_turn(cid, "web", visitor="v-2", new=False)])
    assert record_user_turns(factory, [_turn(cid, "web", visitor="v-1", new=False)]) == [False]
    with pytest.raises(ConversationNotFound):  # not even the channel's integration writes as the visitor
        record_user_turns(factory, [_turn(cid, "web", new=False)])
    assert _owner(factory, cid) == ("web", "v-1")


def test_two_channels_racing_for_a_new_id_do_not_both_get_it(factory: SessionFactory):
    """Given 8 posts at the same moment, 4 from each of two channels, all with one fresh id,
    expect every accepted post from one channel, the owner, and every other post refused."""
    cid = new_id()
    start = threading.Barrier(8)

    def post(channel: str) -> str:
        start.wait()
        try:
            record_user_turns(factory, [_turn(cid, channel)])
            return channel
        except ConversationNotFound:
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(post, ["a", "b"] * 4))
    owner, _ = _owner(factory, cid)
    assert sorted(outcomes) == sorted([owner] * 4 + ["refused"] * 4)
    with factory() as session:
        channels = set(session.scalars(select(Job.channel).where(Job.conversation_id == cid)))
    assert channels == {owner}
