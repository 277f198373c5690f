"""Which workers are alive: each one writes a heartbeat every few seconds (see job_lifecycle.
claim_orphans for what happens to the jobs of one that stops)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.jobs import utcnow
from persistence.db import SessionFactory, connect
from persistence.models import WorkerBeat

_workers = cast(Table, WorkerBeat.__table__)


def beat(factory: SessionFactory, worker: str, started_at: datetime) -> None:
    """Record that `worker` is alive now."""
    now = utcnow()
    with connect(factory, write=True) as connection:
        touched = connection.execute(update(_workers).where(_workers.c.name == worker).values(seen_at=now))
        if touched.rowcount:
            return
    try:
        with connect(factory, write=True) as connection:
            connection.execute(insert(_workers).values(name=worker, started_at=started_at, seen_at=now))
    except IntegrityError:  # its previous beat's row appeared meanwhile: that is a beat too
        pass


def forget(factory: SessionFactory, worker: str) -> None:
    """A worker that stops cleanly is no longer alive (what it still holds is run elsewhere)."""
    with connect(factory, write=True) as connection:
        connection.execute(delete(_workers).where(_workers.c.name == worker))


def claim_deaths(factory: SessionFactory, dead_after: timedelta) -> datetime | None:
    """Claim, for this caller alone, the deaths nobody has swept yet: workers silent for over
    `dead_after` whose last beat is newer than their last sweep are marked swept now, in one
    guarded UPDATE (two callers cannot both claim a death). Returns when the latest of them was
    found dead (its last beat + `dead_after`): it took no message after that. None: no new death."""
    now = utcnow()
    claim = (
        update(_workers)
        .where(
            _workers.c.seen_at < now - dead_after,
            or_(_workers.c.swept_at.is_(None), _workers.c.swept_at < _workers.c.seen_at),
        )
        .values(swept_at=now)
        .returning(_workers.c.seen_at)
    )
    with connect(factory, write=True) as connection:
        last_beats = list(connection.execute(claim).scalars())
    return max(last_beats) + dead_after if last_beats else None


def beating_on(factory: SessionFactory, host: str, within: timedelta) -> list[str]:
    """The workers of `host` (node names `…@host`) whose last beat is younger than `within`: a
    container's liveness check (its worker's heartbeat thread, which runs beside its consumer)."""
    query = select(_workers.c.name).where(
        _workers.c.name.like(f"%@{host}"), _workers.c.seen_at > utcnow() - within
    )
    with connect(factory) as connection:
        return [str(name) for name in connection.execute(query).scalars()]
