"""API keys: made, listed, revoked and checked.

Each key has a scope. A `channel` key is a channel's server-side integration: it posts as its
channel and reads that channel's jobs and conversations. An `agent` key is a person answering the
jobs handed to people in its channel, under its name. An `admin` key (channel "*") reads every
channel and sees the operator's counters. Keys made before scopes are channel keys.

A key reads `bq_<key id>_<secret>`. The key id is public (it names the key in lists and logs);
the secret is 32 random bytes, shown once when made. Only its SHA-256 is kept: a secret that
random needs no slow hash, and a stolen table gives no key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import Table, insert, select, update

from core.errors import InvalidInput, Unauthenticated
from core.jobs import utcnow, valid_channel
from persistence.db import SessionFactory, connect
from persistence.models import ApiKey

PREFIX = "bq"
_KEY = re.compile(r"bq_([a-z0-9]{12})_([A-Za-z0-9_-]{43})")
# A key's last use is written at most this often: not one write per request.
LAST_USED_EVERY = timedelta(minutes=1)
_keys = cast(Table, ApiKey.__table__)
Scope = Literal["channel", "agent", "admin", "visitor"]
KEY_SCOPES: tuple[Scope, ...] = ("channel", "agent", "admin")  # a visitor holds a session, not a key
ALL_CHANNELS = "*"


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed: never its secret."""

    key_id: str
    channel: str
    scope: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class Caller:
    """Who is asking: a checked key's holder, or a visitor session's visitor (`visitor` set)."""

    key_id: str
    channel: str
    scope: Scope = "channel"
    name: str | None = None
    visitor: str | None = None


def create(factory: SessionFactory, channel: str, scope: Scope = "channel", name: str | None = None) -> str:
    """Make a key; the whole key is returned here and nowhere else. An admin key is for every
    channel ("*"); an agent key needs the name its answers are signed with."""
    _check_new_key(channel, scope, name)
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)  # 43 characters
    with connect(factory, write=True) as connection:
        connection.execute(
            insert(_keys).values(
                key_id=key_id,
                channel=channel,
                scope=scope,
                name=name,
                secret_sha256=_digest(secret),
                created_at=utcnow(),
            )
        )
    return f"{PREFIX}_{key_id}_{secret}"


def _check_new_key(channel: str, scope: str, name: str | None) -> None:
    if scope not in KEY_SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(KEY_SCOPES)}, not {scope!r}")
    if scope == "admin":
        if channel != ALL_CHANNELS:
            raise InvalidInput(f"an admin key is for every channel: give channel {ALL_CHANNELS!r}")
        return
    valid_channel(channel)
    if scope == "agent" and not (name and name.strip() and len(name) <= 64 and name.isprintable()):
        raise InvalidInput("an agent key needs --name: 1-64 printable characters, shown on its answers")


def list_keys(factory: SessionFactory, channel: str | None = None) -> list[KeyInfo]:
    query = select(_keys).order_by(_keys.c.channel, _keys.c.created_at)
    if channel is not None:
        query = query.where(_keys.c.channel == channel)
    with connect(factory) as connection:
        rows = connection.execute(query).all()
    return [
        KeyInfo(
            row.key_id, row.channel, row.scope, row.name, row.created_at, row.revoked_at, row.last_used_at
        )
        for row in rows
    ]


def revoke(factory: SessionFactory, key_id: str) -> bool:
    """Revoke a key by its id (or the whole key); False when there is no such live key."""
    match = _KEY.fullmatch(key_id)
    wanted = match[1] if match else key_id
    with connect(factory, write=True) as connection:
        result = connection.execute(
            update(_keys)
            .where(_keys.c.key_id == wanted, _keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return result.rowcount == 1


def check(factory: SessionFactory, key: str) -> Caller:
    """The caller a key belongs to; Unauthenticated when it is malformed, unknown or revoked."""
    match = _KEY.fullmatch(key)
    if match is None:
        raise Unauthenticated("malformed API key (expected bq_<id>_<secret>)")
    key_id, secret = match[1], match[2]
    with connect(factory) as connection:
        row = connection.execute(select(_keys).where(_keys.c.key_id == key_id)).first()
    # Compared in constant time, and an unknown id costs the same digest as a known one.
    expected = row.secret_sha256 if row is not None else _digest("")
    if not hmac.compare_digest(expected, _digest(secret)) or row is None:
        raise Unauthenticated("unknown API key")
    if row.revoked_at is not None:
        raise Unauthenticated(f"API key {key_id} was revoked")
    if row.last_used_at is None or row.last_used_at < utcnow() - LAST_USED_EVERY:
        _touch(factory, key_id)
    return Caller(key_id=key_id, channel=row.channel, scope=row.scope, name=row.name)


def _touch(factory: SessionFactory, key_id: str) -> None:
    with connect(factory, write=True) as connection:
        connection.execute(update(_keys).where(_keys.c.key_id == key_id).values(last_used_at=utcnow()))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
