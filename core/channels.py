"""What each chat channel is allowed and how it is reached: rate limits, webhook verification
and answer delivery, from one YAML file (BABELQ_CHANNELS_FILE). Every limit a channel's entry
does not set is the "*" entry's, and every limit "*" does not set is the shipped one: no channel
is ever unlimited. A channel without an entry has no webhook and no delivery.

Secrets are never written in the file: it names the environment variable that holds each one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConfigurationError
from core.jobs import CHANNEL_NAME

ANY = "*"
WebhookKind = Literal["generic", "telegram", "slack"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    """A token bucket: `burst` requests at once, refilled at `per_second` (or `per_minute`)."""

    per_second: float | None = Field(default=None, gt=0)
    per_minute: float | None = Field(default=None, gt=0)
    burst: int = Field(default=10, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _one_rate(self) -> RateLimit:
        if (self.per_second is None) == (self.per_minute is None):
            raise ValueError("give exactly one of per_second and per_minute")
        return self

    @property
    def refill_per_s(self) -> float:
        return self.per_second if self.per_second is not None else (self.per_minute or 0.0) / 60.0


class Webhook(_Strict):
    """How a channel's incoming webhooks are checked: the secret (generic: HMAC key; telegram:
    the secret-token header; slack: the signing secret) lives in `secret_env`."""

    kind: WebhookKind
    secret_env: str
    replay_window_s: float = Field(default=300.0, gt=0, le=3600)

    def secret(self) -> str:
        value = os.environ.get(self.secret_env, "")
        if not value:
            raise ConfigurationError(f"the webhook secret variable {self.secret_env} is not set")
        return value


class Delivery(_Strict):
    """Where a channel's answers are pushed when its jobs finish. generic: POST JSON to `url`,
    signed with the secret in `secret_env`; telegram: `sendMessage` under `url` (the Bot API base,
    token from `secret_env`); slack: `chat.postMessage` at `url` with the bot token in `secret_env`."""

    kind: WebhookKind
    url: str = Field(pattern=r"^https?://")
    secret_env: str
    max_attempts: int = Field(default=8, ge=1, le=50)
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    def secret(self) -> str:
        return os.environ.get(self.secret_env, "")


class Channel(_Strict):
    # posts by one key (a webhook: by the channel); posts by one user (a request without
    # `user_ref`: by its key or visitor session); reads, waits and streams by one key
    per_key: RateLimit | None = None
    per_user: RateLimit | None = None
    reads: RateLimit | None = None
    webhook: Webhook | None = None
    delivery: Delivery | None = None

    def limited_as(self, fallback: Channel) -> Channel:
        """This entry with every limit it leaves unset taken from `fallback`."""
        return self.model_copy(
            update={
                "per_key": self.per_key or fallback.per_key,
                "per_user": self.per_user or fallback.per_user,
                "reads": self.reads or fallback.reads,
            }
        )


# Shipped limits: a busy integration's key, a person typing (bursts of a few messages), and an
# integration reading its jobs (a poll or a stream for each it posts, and some to spare).
DEFAULT_CHANNEL = Channel(
    per_key=RateLimit(per_second=50, burst=100),
    per_user=RateLimit(per_minute=20, burst=5),
    reads=RateLimit(per_second=100, burst=200),
)


class Channels(_Strict):
    channels: dict[str, Channel] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> Channels:
        for name in self.channels:
            if name != ANY and not CHANNEL_NAME.fullmatch(name):
                raise ValueError(f"channel name {name!r} is not 1-64 of letters, digits, '_', '.', ':', '-'")
        return self

    def get(self, name: str) -> Channel:
        """A channel's entry with its limits filled in; one without an entry has the limits only."""
        fallback = self.channels.get(ANY, DEFAULT_CHANNEL).limited_as(DEFAULT_CHANNEL)
        own = self.channels.get(name)
        if own is not None:
            return own.limited_as(fallback)
        return Channel(per_key=fallback.per_key, per_user=fallback.per_user, reads=fallback.reads)

    @property
    def delivering(self) -> frozenset[str]:
        """The channels whose answers are pushed."""
        return frozenset(name for name, channel in self.channels.items() if channel.delivery)


def load_channels(path: Path | None) -> Channels:
    """The channels file (None: the shipped limits for every channel, no webhooks, no delivery)."""
    if path is None:
        return Channels()
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Channels.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read channels file {path}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"channels file {path}: {problems}") from exc
