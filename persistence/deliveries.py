"""Where a job's answer is pushed, and how each push went (pending → delivered | dead)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.exc import IntegrityError

from core.jobs import utcnow
from persistence.db import SessionFactory, connect
from persistence.models import Delivery
from persistence.tables import FINAL_STATUSES, jobs

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
_deliveries = cast(Table, Delivery.__table__)


@dataclass(frozen=True)
class DeliveryView:
    job_id: str
    channel: str
    target: str
    status: str
    attempts: int
    last_error: str | None


def record(factory: SessionFactory, job_id: str, channel: str, target: str) -> bool:
    """Remember that `job_id`'s answer goes to `target` of `channel`; False if it was already."""
    try:
        with connect(factory, write=True) as connection:
            connection.execute(
                _deliveries.insert().values(
                    job_id=job_id,
                    channel=channel,
                    target=target[:255],
                    status=PENDING,
                    attempts=0,
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        return False
    return True


def get(factory: SessionFactory, job_id: str) -> DeliveryView | None:
    with connect(factory) as connection:
        row = connection.execute(select(_deliveries).where(_deliveries.c.job_id == job_id)).first()
    if row is None:
        return None
    return DeliveryView(row.job_id, row.channel, row.target, row.status, row.attempts, row.last_error)


def attempted(factory: SessionFactory, job_id: str, error: str | None, give_up: bool = False) -> None:
    """One push made: delivered (error None), failed (to try again), or failed for good."""
    status = DELIVERED if error is None else (DEAD if give_up else PENDING)
    values: dict[str, object] = {
        "attempts": _deliveries.c.attempts + 1,
        "status": status,
        "last_error": error,
    }
    if error is None:
        values["delivered_at"] = utcnow()
    with connect(factory, write=True) as connection:
        connection.execute(update(_deliveries).where(_deliveries.c.job_id == job_id).values(**values))


def stranded(factory: SessionFactory, older_than: timedelta, limit: int = 500) -> list[str]:
    """Pending deliveries of jobs that ended more than `older_than` ago: their push was never
    made (a worker died between storing the answer and asking for it), to ask for again."""
    cutoff: datetime = utcnow() - older_than
    query = (
        select(_deliveries.c.job_id)
        .join(jobs, jobs.c.job_id == _deliveries.c.job_id)
        .where(_deliveries.c.status == PENDING, _deliveries.c.attempts == 0)
        .where(jobs.c.status.in_(FINAL_STATUSES), jobs.c.finished_at < cutoff)
        .limit(limit)
    )
    with connect(factory) as connection:
        return [str(job_id) for job_id in connection.execute(query).scalars()]
