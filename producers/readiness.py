"""Readiness: can this process reach its broker and its store right now?"""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from sqlalchemy import Engine

from persistence.db import ping
from transport.celery_app import check_broker


@dataclass(frozen=True)
class Readiness:
    broker: str
    store: str

    @property
    def ready(self) -> bool:
        return self.broker == "ok" and self.store == "ok"


def check_store(engine: Engine) -> str:
    try:
        ping(engine)
        return "ok"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}: {exc}"


def readiness(app: Celery, engine: Engine) -> Readiness:
    return Readiness(broker=check_broker(app), store=check_store(engine))
