"""The contracts on the wire: what a producer publishes (ChatJob) and what a worker returns."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import InvalidInput, UnsupportedJobVersion

JOB_SCHEMA_VERSION = 1
# The hard bound of a message on the wire; BABELQ_MAX_TEXT_CHARS (the limit producers apply,
# DEFAULT_MAX_TEXT_CHARS unless set) may be set anywhere up to it.
TEXT_CHARS_CEILING = 16_000
DEFAULT_MAX_TEXT_CHARS = 4000
# The longest a job may wait to be answered (a week): past its deadline it ends `expired`.
MAX_DEADLINE_S = 7 * 86400
# What a channel may be called (it is a label in metrics and a part of keys, so kept short).
CHANNEL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class JobStatus(StrEnum):
    """Job states: queued → running → done | failed | expired."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in {JobStatus.DONE, JobStatus.FAILED, JobStatus.EXPIRED}


def utcnow() -> datetime:
    return datetime.now(UTC)


def log_fields(job_id: str | None, queue: str | None, worker: str | None = None) -> dict[str, str | None]:
    """The fields every log line about a job carries (`extra=`; JSON logs show them as keys)."""
    return {"job_id": job_id, "queue": queue, "worker": worker}


def keepable_text(text: str) -> str:
    """Text every store keeps: a model's output may hold NUL (PostgreSQL refuses it: dropped) or a
    lone surrogate (no UTF-8 form: replaced with U+FFFD)."""
    text = text.replace("\x00", "")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        text = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text


def valid_channel(channel: str) -> str:
    """`channel` when it is a well-formed channel name; InvalidInput otherwise."""
    if not CHANNEL_NAME.fullmatch(channel):  # fullmatch: "$" would let a trailing newline through
        raise InvalidInput("channel must be 1-64 characters of letters, digits, '_', '.', ':' or '-'")
    return channel


def new_id() -> str:
    return str(uuid.uuid4())


def canonical_uuid(value: str) -> str:
    """Return the canonical text form of a UUID, or raise InvalidInput naming the field value."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise InvalidInput(f"not a UUID: {value!r}") from exc


class ChatJob(BaseModel):
    """One chat message to answer; the body of the Celery task. `job_id` is also the task id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = JOB_SCHEMA_VERSION
    job_id: str
    conversation_id: str
    channel: str = "api"
    user_ref: str | None = None
    text: str = Field(min_length=1, max_length=TEXT_CHARS_CEILING)
    language: str
    queue: str
    profile: str = "default"
    priority: int = Field(default=5, ge=0, le=9)
    created_at: datetime = Field(default_factory=utcnow)
    deadline_at: datetime | None = None

    @field_validator("job_id", "conversation_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        return canonical_uuid(value)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_wire(cls, payload: dict[str, Any]) -> ChatJob:
        """Parse a task body; a newer schema version is refused clearly, not half-understood."""
        version = payload.get("v")
        if isinstance(version, int) and not isinstance(version, bool) and version > JOB_SCHEMA_VERSION:
            raise UnsupportedJobVersion(
                f"ChatJob v={version!r} is not understood by this worker (speaks v={JOB_SCHEMA_VERSION})"
            )
        if version != JOB_SCHEMA_VERSION:
            raise InvalidInput(f"malformed ChatJob: v={version!r}, expected {JOB_SCHEMA_VERSION}")
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            # which fields and why, never their values: a job's text is a customer's message
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
            )
            raise InvalidInput(f"malformed ChatJob: {problems}") from None


class Timings(BaseModel):
    """Where the time of one job went, in milliseconds."""

    queued_ms: float | None = None
    batch_wait_ms: float | None = None
    infer_ms: float | None = None
    total_ms: float | None = None


class ChatAnswer(BaseModel):
    """The outcome of one job, as the worker stores it and the API reports it."""

    job_id: str
    text: str | None = None
    language: str
    model: str | None = None
    status: JobStatus
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    timings: Timings = Field(default_factory=Timings)
    batch_size: int | None = None
    worker: str | None = None
