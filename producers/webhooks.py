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

A channel's chat becomes one babelq conversation (a UUID derived from channel and chat id) and
its user the job's `user_ref`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.channels import Webhook
from core.errors import BadSignature, InvalidInput

CONVERSATIONS = uuid.UUID("6b1f3a52-3c55-4c7e-9f0e-2b8d7a1c9e44")  # namespace of derived ids


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


def conversation_for(channel: str, chat: str) -> str:
    """The babelq conversation of a channel's chat: the same chat, the same conversation."""
    return str(uuid.uuid5(CONVERSATIONS, f"{channel}\x1f{chat}"))


def read_webhook(
    channel: str, hook: Webhook, secret: str, body: bytes, headers: Mapping[str, str], now: float
) -> Incoming | Reply:
    """Check and read one webhook; BadSignature or InvalidInput when it is refused."""
    if hook.kind == "generic":
        _check_hmac(secret, body, headers, now, hook.replay_window_s)
        return _generic(channel, _json(body))
    if hook.kind == "telegram":
        _check_token(secret, headers.get("x-telegram-bot-api-secret-token", ""))
        return _telegram(channel, _json(body))
    _check_slack(secret, body, headers, now, hook.replay_window_s)
    return _slack(channel, _json(body))


def sign_generic(secret: str, body: bytes, timestamp: int) -> str:
    """The generic signature header's value (what a sender computes; delivery signs with it too)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def sign_slack(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return f"v0={mac.hexdigest()}"


def _check_hmac(secret: str, body: bytes, headers: Mapping[str, str], now: float, window: float) -> None:
    timestamp = _timestamp(headers.get("x-babelq-timestamp", ""), now, window)
    if not hmac.compare_digest(sign_generic(secret, body, timestamp), headers.get("x-babelq-signature", "")):
        raise BadSignature("bad X-Babelq-Signature (HMAC-SHA256 of '<timestamp>.<body>')")


def _check_slack(secret: str, body: bytes, headers: Mapping[str, str], now: float, window: float) -> None:
    timestamp = _timestamp(headers.get("x-slack-request-timestamp", ""), now, window)
    if not hmac.compare_digest(sign_slack(secret, body, timestamp), headers.get("x-slack-signature", "")):
        raise BadSignature("bad X-Slack-Signature")


def _check_token(secret: str, token: str) -> None:
    if not hmac.compare_digest(secret.encode(), token.encode()):
        raise BadSignature("bad X-Telegram-Bot-Api-Secret-Token")


def _timestamp(value: str, now: float, window: float) -> int:
    if not value.isdigit():
        raise BadSignature("missing or malformed timestamp header")
    timestamp = int(value)
    if abs(now - timestamp) > window:
        raise BadSignature(f"stale timestamp: {abs(now - timestamp):.0f} s from now, over {window:.0f} s")
    return timestamp


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


def _text_field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name!r} must be a non-empty string")
    return value


def _generic(channel: str, data: dict[str, Any]) -> Incoming:
    user = _text_field(data, "user")
    chat = _text_field(data, "chat") if data.get("chat") is not None else user
    event = _text_field(data, "event_id") if data.get("event_id") is not None else None
    language, locale = data.get("language"), data.get("locale")
    if language is not None and not isinstance(language, str):
        raise InvalidInput("'language' must be a string")
    return Incoming(
        _text_field(data, "text"), user, conversation_for(channel, chat), event, language, chat,
        locale if isinstance(locale, str) else None,
    )  # fmt: skip


def _telegram(channel: str, update: dict[str, Any]) -> Incoming | Reply:
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return Reply({"ok": True, "ignored": "not a text message"})
    sender, chat = message.get("from") or {}, message.get("chat") or {}
    if not isinstance(sender, dict) or not isinstance(chat, dict) or sender.get("is_bot"):
        return Reply({"ok": True, "ignored": "not from a person"})
    chat_id = _text_field(chat, "id")
    update_id = _text_field(update, "update_id")
    user = _text_field(sender, "id") if sender.get("id") is not None else chat_id
    locale = sender.get("language_code")  # the language the user set in Telegram
    return Incoming(
        message["text"], user, conversation_for(channel, chat_id), update_id, None, chat_id,
        locale if isinstance(locale, str) else None,
    )  # fmt: skip


SLACK_SKIPPED_SUBTYPES = {"bot_message", "message_changed", "message_deleted", "channel_join"}


def _slack(channel: str, data: dict[str, Any]) -> Incoming | Reply:
    kind = data.get("type")
    if kind == "url_verification":
        return Reply({"challenge": _text_field(data, "challenge")})
    if kind != "event_callback":
        raise InvalidInput(f"unknown Slack request type {kind!r}")
    event = data.get("event")
    if not isinstance(event, dict) or event.get("type") not in ("message", "app_mention"):
        return Reply({"ok": True, "ignored": "not a message event"})
    if event.get("bot_id") or event.get("subtype") in SLACK_SKIPPED_SUBTYPES or not event.get("text"):
        return Reply({"ok": True, "ignored": "not a person's new message"})  # never answer ourselves
    room = _text_field(event, "channel")
    # A thread is a conversation of its own; the rest of a room (a DM, a channel) is one.
    conversation = conversation_for(
        channel, f"{room}:{event['thread_ts']}" if event.get("thread_ts") else room
    )
    return Incoming(
        _text_field(event, "text"), _text_field(event, "user"), conversation,
        _text_field(data, "event_id"), None, room,
    )  # fmt: skip
