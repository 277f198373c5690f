"""Wiring: build the producer side (store, broker app, routing) from one Settings object."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from celery import Celery
from sqlalchemy import Engine

from ops.settings import Settings
from persistence.db import SessionFactory, make_engine, make_session_factory
from producers.intake import Intake
from routing.celery_app import create_celery_app
from routing.language import LanguageDetector
from routing.queues import publish_job
from routing.table import RoutingTable, load_table


@dataclass
class Stack:
    """The shared objects of one babelq process."""

    settings: Settings
    table: RoutingTable
    engine: Engine
    factory: SessionFactory
    celery: Celery
    intake: Intake

    def close(self) -> None:
        self.engine.dispose()


def build_stack(settings: Settings, celery: Celery | None = None) -> Stack:
    """Build everything a producer needs; pass `celery` to share one app with an in-process worker."""
    table = load_table(settings.routes_file)
    engine = make_engine(settings.store_url)
    factory = make_session_factory(engine)
    app = celery or create_celery_app(settings, table)
    detector = LanguageDetector(sorted(table.languages))
    intake = Intake(table, detector, factory, partial(publish_job, app))
    return Stack(settings, table, engine, factory, app, intake)
