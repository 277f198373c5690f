"""What a channel sends in: one chat message, validated before anything is stored or published."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from core.errors import InvalidInput
from core.jobs import MAX_DEADLINE_S, canonical_uuid, valid_channel
from routing.language_codes import normalize_language_code


class MessageIn(BaseModel):
    """An incoming chat message (HTTP body, JSONL line, webhook payload)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    text: str = Field(description="The customer's message (1 to BABELQ_MAX_TEXT_CHARS characters).")
    conversation_id: str | None = Field(default=None, description="UUID of an existing or new conversation.")
    channel: str = Field(default="api", description="Where the message came from (web, api, cli, …).")
    user_ref: str | None = Field(default=None, max_length=255)
    language: str | None = Field(default=None, description="ISO 639-1 code; overrides detection.")
    locale: str | None = Field(
        default=None,
        description="The user's own language setting, when the channel knows it (BCP 47, e.g. pt-BR): "
        "used when the message itself does not say its language clearly.",
    )
    deadline_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DEADLINE_S,
        description="Seconds from now after which an answer is no use (the job ends `expired`); "
        "default: the channel's in the routing table, else BABELQ_JOB_DEADLINE_S.",
    )
    stream: bool = Field(
        default=False,
        description="Stream the answer as it is generated: `token` events on GET /v1/jobs/{id}/events.",
    )

    @field_validator("text")
    @classmethod
    def _text(cls, text: str, info: ValidationInfo) -> str:
        if not text.strip():
            raise ValueError("text is empty or only whitespace")
        text = storable(text, "text").strip()
        # the deployment's limit, when the caller gives it (read_message); the API checks its own
        limit = (info.context or {}).get("max_text_chars")
        return text if limit is None else within_text_limit(text, limit)

    @field_validator("user_ref")
    @classmethod
    def _user_ref(cls, value: str | None) -> str | None:
        return None if value is None else storable(value, "user_ref")

    @field_validator("conversation_id")
    @classmethod
    def _conversation_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return canonical_uuid(value)
        except InvalidInput as exc:
            raise ValueError(f"conversation_id must be a UUID, got {value!r}") from exc

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        try:
            return valid_channel(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("language", "locale")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            return normalize_language_code(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from exc


def storable(value: str, field: str) -> str:
    """`value`, if a store can keep it as text: no NUL (PostgreSQL refuses it) and no lone
    surrogate (JSON's "\\ud800" escapes decode to one; it has no UTF-8 form)."""
    if "\x00" in value:
        raise ValueError(f"{field} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{field} contains a lone surrogate at position {exc.start}: not valid Unicode"
        ) from exc
    return value


def request_hash(message: MessageIn) -> str:
    """What identifies a request for its idempotency key: its validated fields. Whether it is
    streamed is how the answer is watched, not what is asked: a retry may differ in it."""
    return hashlib.sha256(message.model_dump_json(exclude={"stream"}).encode()).hexdigest()


def read_message(data: object, max_text_chars: int) -> MessageIn:
    """A message validated under this process's text limit (BABELQ_MAX_TEXT_CHARS)."""
    return MessageIn.model_validate(data, context={"max_text_chars": max_text_chars})


def within_text_limit(text: str, limit: int) -> str:
    """`text`, if it is at most `limit` characters (as stored: without its outer whitespace)."""
    if len(text) > limit:
        raise ValueError(f"text is {len(text)} characters; the limit is {limit}")
    return text
