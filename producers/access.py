"""Who may do what through the API: a channel's key posts as that channel and reads only that
channel's jobs and conversations, within the channel's rate limits.

Without a key, a request is let through only where keys are not required (the development
stack, unless BABELQ_REQUIRE_API_KEYS); it is then neither scoped nor limited, as before keys.
"""

from __future__ import annotations

from collections.abc import Callable

from core.channels import Channels, RateLimit
from core.errors import NotPermitted, RateLimited, Unauthenticated
from persistence.api_keys import Caller
from persistence.rate_buckets import Buckets
from producers.messages import MessageIn

CheckKey = Callable[[str], Caller]


class Access:
    def __init__(self, check_key: CheckKey, keys_required: bool, channels: Channels, buckets: Buckets):
        self._check_key = check_key
        self.keys_required = keys_required
        self.channels = channels
        self._buckets = buckets

    def caller(self, key: str | None) -> Caller | None:
        """The key's caller; None for no key where none is needed. Unauthenticated otherwise."""
        if key is None:
            if self.keys_required:
                raise Unauthenticated("an API key is required (Authorization: Bearer bq_…)")
            return None
        return self._check_key(key)

    def admit(self, caller: Caller | None, message: MessageIn) -> MessageIn:
        """The message as its caller may post it (its key's channel), once within the limits."""
        if caller is None:
            return message
        if "channel" in message.model_fields_set and message.channel != caller.channel:
            raise NotPermitted(f"this key posts as channel {caller.channel!r}, not {message.channel!r}")
        channel = self.channels.get(caller.channel)
        self._within(f"key:{caller.key_id}", channel.per_key, f"key {caller.key_id}")
        if message.user_ref is None:  # no user named: the key is the one user it speaks for
            who = f"key {caller.key_id} without user_ref"
            self._within(f"user-key:{caller.key_id}", channel.per_user, who)
        else:
            self.within_user_limit(caller.channel, message.user_ref)
        return message.model_copy(update={"channel": caller.channel})

    def within_user_limit(self, channel: str, user_ref: str) -> None:
        limit = self.channels.get(channel).per_user
        self._within(f"user:{channel}:{user_ref}", limit, f"user {user_ref!r} of channel {channel}")

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
    def may_read(caller: Caller | None, channel: str | None) -> bool:
        """Whether the caller may see something of `channel` (None: it does not exist)."""
        return channel is not None and (caller is None or caller.channel == channel)
