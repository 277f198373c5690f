"""Who may do what through the API (the README's "Security" table):

- a channel key posts as its channel and reads that channel's jobs and conversations;
- a visitor session posts as its channel, and reads only the conversations it made;
- an agent key lists and answers the jobs handed to people in its channel, and reads them;
- an admin key reads every channel's jobs and the operator's counters.

Each within its channel's rate limits.

Without a key, a request is let through only where keys are not required (the development
stack, unless BABELQ_REQUIRE_API_KEYS); it is then neither scoped nor limited, as before keys.
"""

from __future__ import annotations

from collections.abc import Callable

from core.channels import Channels, RateLimit
from core.errors import NotPermitted, RateLimited, Unauthenticated
from persistence import views
from persistence.api_keys import Caller
from persistence.db import SessionFactory
from persistence.rate_buckets import Buckets
from producers.messages import MessageIn
from producers.visitor_sessions import VisitorSessions, is_session_token

CheckKey = Callable[[str], Caller]
VISITOR_PREFIX = "visitor:"  # the user_ref of a visitor session's messages, and of no one else's


class Access:
    def __init__(
        self,
        check_key: CheckKey,
        keys_required: bool,
        channels: Channels,
        buckets: Buckets,
        sessions: VisitorSessions,
    ) -> None:
        self._check_key = check_key
        self.keys_required = keys_required
        self.channels = channels
        self._buckets = buckets
        self.sessions = sessions

    def caller(self, credential: str | None) -> Caller | None:
        """The caller of a key or a visitor session; None for neither where none is needed.
        Unauthenticated otherwise."""
        if credential is None:
            if self.keys_required:
                raise Unauthenticated("an API key or a visitor session is required (Authorization: Bearer …)")
            return None
        if is_session_token(credential):
            return self.sessions.check(credential)
        return self._check_key(credential)

    def within_session_limit(self, channel: str, client: str) -> None:
        """New visitor sessions from one client address: a person's limit of the channel."""
        self._within(f"sessions:{client}", self.channels.get(channel).per_user, f"new sessions from {client}")

    def admit(self, caller: Caller | None, message: MessageIn) -> MessageIn:
        """The message as its caller may post it (its key's channel), once within the limits."""
        if caller is None:
            return message
        require_scope(caller, "channel", "visitor")
        if caller.visitor is not None:
            return self._admit_visitor(caller, caller.visitor, message)
        if "channel" in message.model_fields_set and message.channel != caller.channel:
            raise NotPermitted(f"this key posts as channel {caller.channel!r}, not {message.channel!r}")
        channel = self.channels.get(caller.channel)
        self._within(f"key:{caller.key_id}", channel.per_key, f"key {caller.key_id}")
        if message.user_ref is None:  # no user named: the key is the one user it speaks for
            who = f"key {caller.key_id} without user_ref"
            self._within(f"user-key:{caller.key_id}", channel.per_user, who)
        elif message.user_ref.startswith(VISITOR_PREFIX):
            raise NotPermitted(
                f"a user_ref of {VISITOR_PREFIX!r} names a visitor session: only it posts as it"
            )
        else:
            self.within_user_limit(caller.channel, message.user_ref)
        return message.model_copy(update={"channel": caller.channel})

    def _admit_visitor(self, caller: Caller, visitor: str, message: MessageIn) -> MessageIn:
        """A visitor is one person: its own user limit, and it is the message's user."""
        if "channel" in message.model_fields_set and message.channel != caller.channel:
            raise NotPermitted(f"this session posts as channel {caller.channel!r}, not {message.channel!r}")
        limit = self.channels.get(caller.channel).per_user
        self._within(f"session:{visitor}", limit, f"visitor session {visitor}")
        return message.model_copy(
            update={"channel": caller.channel, "user_ref": f"{VISITOR_PREFIX}{visitor}"}
        )

    def within_user_limit(self, channel: str, user_ref: str) -> None:
        """One user of a channel (its name's length first: a channel name may hold ':')."""
        limit = self.channels.get(channel).per_user
        who = f"user {user_ref!r} of channel {channel}"
        self._within(f"user:{len(channel)}:{channel}:{user_ref}", limit, who)

    def within_read_limit(self, caller: Caller) -> None:
        """A read, a wait or a stream by a key: its channel's `reads` limit."""
        limit = self.channels.get(caller.channel).reads
        self._within(f"reads:{caller.key_id}", limit, f"reads of key {caller.key_id}")

    def within_channel_limit(self, channel: str) -> None:
        """A webhook's channel as a whole (it has no key): the channel's per-key limit."""
        self._within(f"channel:{channel}", self.channels.get(channel).per_key, f"channel {channel}")

    def _within(self, bucket: str, limit: RateLimit | None, who: str) -> None:
        if limit is None:
            return
        verdict = self._buckets.take(bucket, limit)
        if not verdict.allowed:
            raise RateLimited(f"rate limit of {who} reached; retry later", verdict.retry_after_s)

    @staticmethod
    def may_read(caller: Caller | None, channel: str | None, visitor: str | None = None) -> bool:
        """Whether the caller may see something of `channel` (None: it does not exist) whose
        conversation belongs to `visitor` (None: to the channel's integration)."""
        if channel is None:
            return False
        if caller is None or caller.scope == "admin":
            return True
        if caller.channel != channel:
            return False
        return caller.visitor is None or caller.visitor == visitor


def job_readable(factory: SessionFactory, caller: Caller | None, view: views.JobView | None) -> bool:
    """Whether the caller may see this job (blocking: a visitor's needs its conversation's owner)."""
    if view is None:
        return False
    visitor = None
    if caller is not None and caller.visitor is not None:
        owner = views.conversation_owner(factory, view.conversation_id)
        visitor = owner[1] if owner is not None else None
    return Access.may_read(caller, view.channel, visitor)


def conversation_readable(factory: SessionFactory, caller: Caller | None, conversation_id: str) -> bool:
    """Whether the caller may read this conversation (blocking); an unknown one: no caller may."""
    owner = views.conversation_owner(factory, conversation_id)
    return owner is not None and Access.may_read(caller, *owner)


def require_scope(caller: Caller | None, *scopes: str) -> None:
    """NotPermitted (403) unless the caller's key has one of `scopes` (no caller: a stack that
    needs no keys, where everything is open)."""
    if caller is not None and caller.scope not in scopes:
        raise NotPermitted(f"this needs {' or '.join(scopes)} access; the caller has {caller.scope} access")
