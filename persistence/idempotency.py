"""Idempotency keys: a client that retries a request with the same key gets the same job.

A key is reserved, with the job id it will name, before anything else is stored or published; a
second request with the key finds that job (or, with a different request, a conflict). Keys last
KEY_TTL; an older one is taken as new.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.errors import IdempotencyConflict
from core.jobs import utcnow
from persistence.db import SessionFactory, connect
from persistence.models import IdempotencyKey

KEY_TTL = timedelta(hours=24)
# A key whose job is not stored this long after it was reserved belongs to a request that failed
# and could not free it (the store went down mid-request): a retry takes it over.
ABANDONED_AFTER = timedelta(seconds=30)
_keys = cast(Table, IdempotencyKey.__table__)
MAX_KEY_CHARS = 255  # the column's width


def scoped_key(namespace: str, channel: str, key: str) -> str:
    """A client's key within its namespace ("api", "webhook") and channel, joined so that no two
    (channel, key) pairs meet however either is spelt: the channel's length says where it ends
    (a channel name may hold ':'), and a key too long for the column is kept by its SHA-256,
    marked apart from a key given as it is."""
    head = f"{namespace}:{len(channel)}:{channel}:"
    if len(head) + 2 + len(key) <= MAX_KEY_CHARS:
        return f"{head}k:{key}"
    return f"{head}h:{hashlib.sha256(key.encode()).hexdigest()}"


def reserve(factory: SessionFactory, key: str, request_hash: str, job_id: str) -> str | None:
    """Reserve `key` for `job_id`: None when reserved now, else the job the key already names.
    Raises IdempotencyConflict when the key was used for a different request."""
    for _ in range(2):  # a second time after clearing an expired key
        try:
            with connect(factory, write=True) as connection:
                connection.execute(
                    insert(_keys).values(
                        key=key, request_hash=request_hash, job_id=job_id, created_at=utcnow()
                    )
                )
            return None
        except IntegrityError:
            existing = _existing(factory, key, request_hash)
            if existing is not None:
                return existing
    raise IdempotencyConflict(f"Idempotency-Key {key!r} is being reserved by another request; retry")


def _existing(factory: SessionFactory, key: str, request_hash: str) -> str | None:
    """The job a live key names (None after clearing an expired one)."""
    with connect(factory, write=True) as connection:
        row = connection.execute(select(_keys).where(_keys.c.key == key)).first()
        if row is None:
            return None
        if row.created_at < utcnow() - KEY_TTL:
            connection.execute(delete(_keys).where(_keys.c.key == key))
            return None
    if row.request_hash != request_hash:
        raise IdempotencyConflict(f"Idempotency-Key {key!r} was used for a different request")
    return str(row.job_id)


def take_over(factory: SessionFactory, key: str) -> bool:
    """Claim a key reserved over ABANDONED_AFTER ago whose request never stored its job: True
    for the one request that claims it (its reservation time moves to now)."""
    now = utcnow()
    claim = (
        update(_keys)
        .where(_keys.c.key == key, _keys.c.created_at < now - ABANDONED_AFTER)
        .values(created_at=now)
    )
    with connect(factory, write=True) as connection:
        return bool(connection.execute(claim).rowcount)


def release(factory: SessionFactory, key: str) -> None:
    """Free a key whose request failed before its job existed (publishing failed)."""
    with connect(factory, write=True) as connection:
        connection.execute(delete(_keys).where(_keys.c.key == key))
