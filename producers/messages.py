"""What a channel sends in: one chat message, validated before anything is stored or published."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from core.errors import InvalidInput
from core.jobs import canonical_uuid
from core.settings import Settings
from routing.language_codes import normalize_language_code

_CHANNEL = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# The length limit is BABELQ_MAX_TEXT_CHARS, handed to validation as context by each channel;
# without one (a message built in code), the setting's default applies.
TEXT_LIMIT_CONTEXT = "max_text_chars"
_DEFAULT_TEXT_LIMIT: int = Settings.model_fields["max_text_chars"].default


class MessageIn(BaseModel):
    """An incoming chat message (HTTP body, JSONL line, webhook payload)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    text: str = Field(description="The customer's message (1 to BABELQ_MAX_TEXT_CHARS characters).")
    conversation_id: str | None = Field(default=None, description="UUID of an existing or new conversation.")
    channel: str = Field(default="api", description="Where the message came from (web, api, cli, …).")
    user_ref: str | None = Field(default=None, max_length=255)
    language: str | None = Field(default=None, description="ISO 639-1 code; overrides detection.")

    @field_validator("text")
    @classmethod
    def _text(cls, text: str, info: ValidationInfo) -> str:
        if not text.strip():
            raise ValueError("text is empty or only whitespace")
        limit = (info.context or {}).get(TEXT_LIMIT_CONTEXT, _DEFAULT_TEXT_LIMIT)
        if len(text) > limit:
            raise ValueError(f"text is {len(text)} characters; the limit is {limit}")
        if "\x00" in text:
            raise ValueError("text contains a NUL character")
        return text.strip()

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
        if not _CHANNEL.match(value):
            raise ValueError("channel must be 1-64 characters of letters, digits, '_', '.', ':' or '-'")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            return normalize_language_code(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from exc


def parse_message(data: str | bytes | dict[str, Any], max_text_chars: int) -> MessageIn:
    """Validate one message (a JSON document or its parsed form) under the configured length limit."""
    context = {TEXT_LIMIT_CONTEXT: max_text_chars}
    if isinstance(data, dict):
        return MessageIn.model_validate(data, context=context)
    return MessageIn.model_validate_json(data, context=context)
