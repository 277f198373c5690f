"""The producer side's composition root: one Settings object in, every resource of an API (or a
publishing) process out: the store, the broker app, routing, cache, notices and access, closed in
the reverse order they were opened."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial

from celery import Celery
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine

from core.channels import load_channels
from core.settings import Settings
from persistence import api_keys
from persistence.answer_cache import AnswerCache, answer_lookup, open_answer_cache
from persistence.answer_notices import AnswerNotices, open_answer_notices
from persistence.db import SessionFactory, make_engine, make_session_factory
from persistence.partial_answers import PartialAnswers, open_partial_answers
from persistence.rate_buckets import Buckets, LocalBuckets, RedisBuckets
from producers.access import Access
from producers.client import Client
from producers.intake import Intake
from producers.metrics import CacheCollector, ProducerMetrics
from producers.publish import BrokerGateway, Gateway, HttpGateway
from producers.readiness import Readiness, readiness
from producers.visitor_sessions import VisitorSessions
from producers.webhooks import ChatIds
from routing.language import routing_detector
from routing.table import RoutingTable, load_table
from transport.celery_app import create_celery_app
from transport.queue_depth import QueueDepthCollector, QueueDepths
from transport.queues import DELIVERY_QUEUE, publish_delivery, publish_job


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
    notices: AnswerNotices
    partials: PartialAnswers
    registry: CollectorRegistry
    access: Access
    chat_ids: ChatIds

    def readiness(self) -> Readiness:
        """Can this process reach its broker and its store right now?"""
        return readiness(self.celery, self.engine)

    def request_delivery(self, job_id: str) -> None:
        """Ask for a job's answer to be pushed to its channel (by whoever serves the deliveries)."""
        publish_delivery(self.celery, job_id)

    resources: ExitStack = field(default_factory=ExitStack, repr=False)

    def close(self) -> None:
        """Close what it opened, the last opened first (the store engine last)."""
        self.resources.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def build_stack(settings: Settings, celery: Celery | None = None, secret: bytes | None = None) -> Stack:
    """Build everything a producer needs; pass `celery` to share one app with an in-process worker.
    `secret`: the deployment's key (core.deployment_key), which an API needs for its webhooks'
    conversation ids and its visitor sessions; a process that serves neither (the deliverer,
    `babelq publish`) is given none and keys its unused ones with a random key of its own.
    What fails half-way closes what was opened before it."""
    resources = ExitStack()
    try:
        return _open(settings, celery, secret, resources)
    except BaseException:
        resources.close()
        raise


def _open(settings: Settings, celery: Celery | None, secret: bytes | None, resources: ExitStack) -> Stack:
    table = load_table(settings.routes_file)
    engine = make_engine(settings.store_url)
    resources.callback(engine.dispose)
    factory = make_session_factory(engine)
    app = celery or create_celery_app(settings, table)
    cache = open_answer_cache(settings)
    counters, registry = _registry(settings, table, app, cache)
    partials = open_partial_answers(settings)
    resources.callback(partials.close)
    notices = open_answer_notices(settings)
    resources.callback(notices.close)
    intake = _intake(settings, table, factory, app=app, cache=cache, counters=counters, partials=partials)
    key = secret if secret is not None else secrets.token_bytes(32)
    access = build_access(settings, factory, VisitorSessions(key, settings.visitor_session_ttl_s))
    return Stack(
        settings=settings,
        table=table,
        engine=engine,
        factory=factory,
        celery=app,
        intake=intake,
        cache=cache,
        notices=notices,
        partials=partials,
        registry=registry,
        access=access,
        chat_ids=ChatIds(key),
        resources=resources,
    )


def _intake(
    settings: Settings,
    table: RoutingTable,
    factory: SessionFactory,
    *,
    app: Celery,
    cache: AnswerCache,
    counters: CollectorRegistry,
    partials: PartialAnswers,
) -> Intake:
    return Intake(
        table,
        routing_detector(table.languages),
        factory,
        partial(publish_job, app),
        answer_lookup(cache, settings),
        default_deadline_s=settings.job_deadline_s,
        metrics=ProducerMetrics(counters),
        mark_streamed=partials.want,
    )


def build_access(settings: Settings, factory: SessionFactory, sessions: VisitorSessions) -> Access:
    """Keys checked in the store; rate buckets in Redis (BABELQ_REDIS_URL, else a Redis broker),
    shared by every API process, or in this process (the embedded stack, or no Redis at all)."""
    url = settings.shared_redis_url
    buckets: Buckets = RedisBuckets(url) if url and not settings.embedded else LocalBuckets()
    channels = load_channels(settings.channels_file)
    return Access(partial(api_keys.check, factory), settings.keys_required, channels, buckets, sessions)


def _registry(
    settings: Settings, table: RoutingTable, app: Celery, cache: AnswerCache
) -> tuple[CollectorRegistry, CollectorRegistry]:
    """(where this process's counters live, what it serves on /metrics): its counters, the answer
    cache's, and the queues' depths (read here, once for the fleet, not by every worker). Under
    `babelq api --workers N` the counters of all N processes add up (prometheus-client's
    multiprocess mode, PROMETHEUS_MULTIPROC_DIR set by `babelq api`), whichever one is scraped."""
    served = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(served)  # type: ignore[no-untyped-call]
        counters = CollectorRegistry()  # their values are in the shared files the collector reads
    else:
        ProcessCollector(registry=served)  # process_cpu_seconds_total, resident memory, …
        counters = served
    human = [table.unanswered.human_queue] if table.unanswered.action == "human" else []
    queues = [*table.queue_names, table.dead_letter_queue, DELIVERY_QUEUE, *human]
    depths = QueueDepths(app, queues, settings.rabbitmq_management_url)
    served.register(QueueDepthCollector(depths, table.dead_letter_queue))
    served.register(CacheCollector(cache.stats))
    return counters, served


@contextmanager
def publish_gateway(settings: Settings, api_url: str, api_key: str | None = None) -> Iterator[Gateway]:
    """Where `babelq publish` sends messages: the API at `api_url` (always, for the embedded
    stack, whose broker lives inside `babelq run`), else the broker through a stack of its own."""
    if api_url or settings.embedded:
        url = api_url or f"http://{settings.api_host}:{settings.api_port}"
        with Client(url, api_key=api_key) as client:
            yield HttpGateway(client)
        return
    stack = build_stack(settings)
    try:
        yield BrokerGateway(stack.intake, stack.factory)
    finally:
        stack.close()
