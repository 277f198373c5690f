"""Incoming webhooks, checked and read: pure functions of the raw body, the headers, the
channel's secret and the clock (no I/O), so every rule is tested on its own.

- generic: `X-Babelq-Timestamp` (Unix seconds) and `X-Babelq-Signature: sha256=<hex>`, the
  HMAC-SHA256 of `<timestamp>.<raw body>` under the channel's secret; older or newer than the
  replay window: refused. Body: {"text", "user", "chat"?, "event_id"?, "language"?}.
- telegram: the `X-Telegram-Bot-Api-Secret-Token` header set with `setWebhook`; an Update with
  a text `message`. Other updates are acknowledged and ignored (Telegram resends on errors).
- slack: the v0 signature of `v0:<timestamp>:<raw body>` with the signing secret and its
  5-minute window; `url_verification` answered with its challenge; `event_callback` message
  events from people (not bots, not edits) are taken; retries deduplicated by `event_id`.

A channel's chat becomes one babelq conversation and its user the job's `user_ref`. The
conversation's id is keyed with the deployment's secret (ChatIds): nobody without it can compute
the id a chat will get and post into it first.

Everything a sender controls is checked before it is used: a malformed header or body is
InvalidInput (or BadSignature), never an exception of Python's own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.channels import Webhook
from core.errors import BadSignature, InvalidInput
from producers.messages import storable

# A timestamp header: Unix seconds (up to 12 digits: int() of thousands of digits is slow, and
# over 4,300 it raises).
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
# A sender's clock may run this far ahead of ours; a request from further in the future would
# stay replayable for longer than its window.
FUTURE_SKEW_S = 30.0


@dataclass(frozen=True)
class Incoming:
    """A chat message a webhook carried, ready to become a job."""

    text: str
    user_ref: str
    conversation_id: str
    event_key: str | None  # the provider's event id: its retries are the same job
    language: str | None = None
    reply_to: str | None = None  # where the channel's answer goes (chat id / Slack channel)
    locale: str | None = None  # the user's language setting, as the provider sent it


@dataclass(frozen=True)
class Reply:
    """Answer the webhook with this body and store nothing (a challenge, an ignored event)."""

    body: dict[str, Any]


class ChatIds:
    """The babelq conversation of a channel's chat: the same chat, the same conversation; a UUID
    (version 8) from the HMAC-SHA256 of channel and chat under the deployment's key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def conversation(self, channel: str, chat: str) -> str:
        digest = hmac.new(self._key, f"{channel}\x1f{chat}".encode(), hashlib.sha256).digest()
        value = int.from_bytes(digest[:16], "big")
        value = (value & ~(0xF << 76)) | (0x8 << 76)  # version 8: custom
        value = (value & ~(0x3 << 62)) | (0x2 << 62)  # the RFC 9562 variant
        return str(uuid.UUID(int=value))


def read_webhook(
    channel: str,
    hook: Webhook,
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float,
    ids: ChatIds,
) -> Incoming | Reply:
    """Check and read one webhook; BadSignature or InvalidInput when it is refused."""
    if hook.kind == "generic":
        _check_hmac(secret, body, headers, now, hook.replay_window_s)
        return _generic(channel, _json(body), ids)
    if hook.kind == "telegram":
        _check_token(secret, headers.get("x-telegram-bot-api-secret-token", ""))
        return _telegram(channel, _json(body), ids)
    _check_slack(secret, body, headers, now, hook.replay_window_s)
    return _slack(channel, _json(body), ids)


def replay_key(headers: Mapping[str, str]) -> str:
    """What makes a signed generic request without an `event_id` the same request: its signature
    (of its timestamp and body). Sent again within its window, it is the same job; after it, the
    timestamp is refused. (Telegram and Slack events always carry their own ids.)"""
    return "sig:" + hashlib.sha256(headers.get("x-babelq-signature", "").encode("latin-1")).hexdigest()


def sign_generic(secret: str, body: bytes, timestamp: int) -> str:
    """The generic signature header's value (what a sender computes; delivery signs with it too)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def sign_slack(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return f"v0={mac.hexdigest()}"


def _check_hmac(secret: str, body: bytes, headers: Mapping[str, str], now: float, window: float) -> None:
    timestamp = _timestamp(headers.get("x-babelq-timestamp", ""), now, window)
    if not _same(sign_generic(secret, body, timestamp), headers.get("x-babelq-signature", "")):
        raise BadSignature("bad X-Babelq-Signature (HMAC-SHA256 of '<timestamp>.<body>')")


def _check_slack(secret: str, body: bytes, headers: Mapping[str, str], now: float, window: float) -> None:
    timestamp = _timestamp(headers.get("x-slack-request-timestamp", ""), now, window)
    if not _same(sign_slack(secret, body, timestamp), headers.get("x-slack-signature", "")):
        raise BadSignature("bad X-Slack-Signature")


def _check_token(secret: str, token: str) -> None:
    if not _same(secret, token):
        raise BadSignature("bad X-Telegram-Bot-Api-Secret-Token")


def _same(expected: str, given: str) -> bool:
    """Constant-time, and on bytes: compare_digest refuses a str with non-ASCII characters, which
    a header may hold (HTTP headers arrive decoded as Latin-1)."""
    return hmac.compare_digest(expected.encode(), given.encode("latin-1", errors="replace"))


def _timestamp(value: str, now: float, window: float) -> int:
    if not _UNIX_SECONDS.fullmatch(value):
        raise BadSignature("missing or malformed timestamp header (Unix seconds)")
    timestamp = int(value)
    if timestamp - now > FUTURE_SKEW_S:
        raise BadSignature(f"timestamp {timestamp - now:.0f} s in the future, over {FUTURE_SKEW_S:.0f} s")
    if now - timestamp > window:
        raise BadSignature(f"stale timestamp: {now - timestamp:.0f} s old, over {window:.0f} s")
    return timestamp


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:  # not UTF-8, not JSON, or a number of over 4,300 digits
        raise InvalidInput(f"the body is not JSON: {exc}") from exc
    except RecursionError as exc:  # nested deeper than Python's stack allows
        raise InvalidInput("the body's JSON is nested too deeply") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


MAX_ID_CHARS = 255  # a user, chat, room or event id; longer is no provider's


def _text_field(data: Mapping[str, Any], name: str) -> str:
    """A non-empty string (or an integer id) that a store can keep: no NUL, no lone surrogate."""
    value = data.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name!r} must be a non-empty string")
    try:
        return storable(value, repr(name))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _id_field(data: Mapping[str, Any], name: str) -> str:
    value = _text_field(data, name)
    if len(value) > MAX_ID_CHARS:
        raise InvalidInput(f"{name!r} is over {MAX_ID_CHARS} characters")
    return value


def _generic(channel: str, data: dict[str, Any], ids: ChatIds) -> Incoming:
    user = _id_field(data, "user")
    chat = _id_field(data, "chat") if data.get("chat") is not None else user
    event = _id_field(data, "event_id") if data.get("event_id") is not None else None
    language, locale = data.get("language"), data.get("locale")
    if language is not None and not isinstance(language, str):
        raise InvalidInput("'language' must be a string")
    return Incoming(
        _text_field(data, "text"),
        user,
        ids.conversation(channel, chat),
        event,
        language,
        chat,
        locale if isinstance(locale, str) else None,
    )


def _telegram(channel: str, update: dict[str, Any], ids: ChatIds) -> Incoming | Reply:
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return Reply({"ok": True, "ignored": "not a text message"})
    sender, chat = message.get("from") or {}, message.get("chat") or {}
    if not isinstance(sender, dict) or not isinstance(chat, dict) or sender.get("is_bot"):
        return Reply({"ok": True, "ignored": "not from a person"})
    chat_id = _id_field(chat, "id")
    update_id = _id_field(update, "update_id")
    user = _id_field(sender, "id") if sender.get("id") is not None else chat_id
    locale = sender.get("language_code")  # the language the user set in Telegram
    return Incoming(
        message["text"],
        user,
        ids.conversation(channel, chat_id),
        update_id,
        None,
        chat_id,
        locale if isinstance(locale, str) else None,
    )


SLACK_SKIPPED_SUBTYPES = {"bot_message", "message_changed", "message_deleted", "channel_join"}


def _slack(channel: str, data: dict[str, Any], ids: ChatIds) -> Incoming | Reply:
    kind = data.get("type")
    if kind == "url_verification":
        return Reply({"challenge": _id_field(data, "challenge")})
    if kind != "event_callback":
        raise InvalidInput(f"unknown Slack request type {kind!r}")
    event = data.get("event")
    if not isinstance(event, dict) or event.get("type") not in ("message", "app_mention"):
        return Reply({"ok": True, "ignored": "not a message event"})
    subtype = event.get("subtype")
    skipped = not isinstance(subtype, str | None) or subtype in SLACK_SKIPPED_SUBTYPES
    if event.get("bot_id") or skipped or not event.get("text"):
        return Reply({"ok": True, "ignored": "not a person's new message"})  # never answer ourselves
    room = _id_field(event, "channel")
    # A thread is a conversation of its own; the rest of a room (a DM, a channel) is one.
    conversation = ids.conversation(
        channel, f"{room}:{_id_field(event, 'thread_ts')}" if event.get("thread_ts") else room
    )
    return Incoming(
        _text_field(event, "text"),
        _id_field(event, "user"),
        conversation,
        _id_field(data, "event_id"),
        None,
        room,
    )
