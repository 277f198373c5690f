"""What is kept: conversations, their turns (messages) and the jobs that answer them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value  # type: ignore[no-any-return]


class Base(DeclarativeBase):
    """Declarative base of every table babelq owns."""


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    # The visitor session that made it (the web page); None for a channel integration's.
    visitor: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class Message(Base):
    """One turn. A job has at most one user turn and one assistant turn (the idempotency key)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("job_id", "role", name="uq_messages_job_role"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_conversation_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    job_id: Mapped[str] = mapped_column(String(36))
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(255))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Job(Base):
    """The life of one chat job: queued → running → done | failed | expired."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_conversation_created", "conversation_id", "created_at"),
        Index("ix_jobs_status_published", "status", "published_at"),
        Index("ix_jobs_status_worker", "status", "worker"),
    )

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    user_ref: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(16))
    language_source: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cached: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    queued_ms: Mapped[float | None] = mapped_column(Float)
    batch_wait_ms: Mapped[float | None] = mapped_column(Float)
    infer_ms: Mapped[float | None] = mapped_column(Float)
    total_ms: Mapped[float | None] = mapped_column(Float)
    batch_size: Mapped[int | None] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(255))
    model: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)


class WorkerBeat(Base):
    """A worker's proof of life: its last heartbeat. Jobs `running` on a worker whose beat is
    stale are run again elsewhere (persistence/liveness.py)."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # when a living worker swept this one's death for lost messages (workers/lost_messages.py)
    swept_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class IdempotencyKey(Base):
    """A client's key for one request: the same key and request within a day is the same job."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class ApiKey(Base):
    """A channel's API key: its public id and the SHA-256 of its secret (the secret itself is
    shown once, when made, and never kept)."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), index=True)  # "*" for an admin key
    scope: Mapped[str] = mapped_column(String(16), server_default="channel")  # channel|agent|admin
    name: Mapped[str | None] = mapped_column(String(64))  # an agent's, shown on its answers
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Delivery(Base):
    """An answer to push to the channel a job came from (a webhook's chat), and how it went:
    pending → delivered | dead (every attempt failed)."""

    __tablename__ = "deliveries"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
