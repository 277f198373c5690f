"""Wiring: build the producer side (store, broker app, routing) from one Settings object."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from celery import Celery
from sqlalchemy import Engine

from ops.settings import Settings
from persistence.answer_cache import (
    AnswerCache,
    AnswerLookup,
    MemoryAnswerCache,
    NoAnswerCache,
    RedisAnswerCache,
)
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
    cache: AnswerCache

    def close(self) -> None:
        self.engine.dispose()


def build_stack(settings: Settings, celery: Celery | None = None) -> Stack:
    """Build everything a producer needs; pass `celery` to share one app with an in-process worker."""
    table = load_table(settings.routes_file)
    engine = make_engine(settings.store_url)
    factory = make_session_factory(engine)
    app = celery or create_celery_app(settings, table)
    detector = LanguageDetector(sorted(table.languages))
    cache = open_answer_cache(settings)
    intake = Intake(table, detector, factory, partial(publish_job, app), answer_lookup(cache, settings))
    return Stack(settings, table, engine, factory, app, intake, cache)


def open_answer_cache(settings: Settings) -> AnswerCache:
    """In-process in the embedded stack, Redis with BABELQ_REDIS_URL, else (or with a TTL of 0) off."""
    if settings.cache_ttl_s == 0:
        return NoAnswerCache()
    if settings.embedded:
        return MemoryAnswerCache(settings.cache_ttl_s, settings.cache_max_entries)
    if settings.redis_url:
        return RedisAnswerCache(settings.redis_url, settings.cache_ttl_s, settings.cache_max_entries)
    return NoAnswerCache()


def answer_lookup(cache: AnswerCache, settings: Settings) -> AnswerLookup:
    """Producers and workers key the cache alike: by the profile's model (else BABELQ_MODEL, else
    the default model) and the answer-length cap. A null-runner worker (benchmarks) writes under
    keys no producer reads, so it can never fill the cache with its fixed text."""
    model = settings.model or "babelq-default"
    return AnswerLookup(
        cache, model if settings.runner != "null" else f"null-runner:{model}", settings.max_new_tokens
    )
