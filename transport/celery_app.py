"""The Celery app factory: every producer and worker builds its app from Settings here."""

from __future__ import annotations

from typing import Any

from celery import Celery

from core.settings import Settings
from routing.table import RoutingTable
from transport.queues import declared_queues


def create_celery_app(settings: Settings, table: RoutingTable) -> Celery:
    """A Celery app on the configured broker, with at-least-once delivery settings."""
    app = Celery("babelq", broker=settings.broker_url, set_as_current=False)
    app.conf.update(_delivery_conf(settings, table))
    return app


def _delivery_conf(settings: Settings, table: RoutingTable) -> dict[str, Any]:
    return {
        "task_queues": declared_queues(table, settings.rabbitmq_queue_type, settings.rabbitmq_delivery_limit),
        "task_default_queue": table.fallback_queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        # The store is the source of truth for job outcomes; no Celery result backend needed.
        "task_ignore_result": True,
        "result_backend": None,
        # At-least-once: ack after the answer is stored; a lost worker's jobs are redelivered.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": _transport_options(settings),
        "task_publish_retry": True,
        "worker_hijack_root_logger": False,
        # Task events cost a broker publish each (3 per job on a worker, 1 on the producer).
        # Off by default: Flower switches them on in the workers while it runs (enable_events).
        "worker_send_task_events": False,
    }


def _transport_options(settings: Settings) -> dict[str, Any]:
    if settings.embedded:
        # In-process memory transport: polling is a cheap in-memory check, so poll often.
        return {"polling_interval": 0.005}
    if settings.broker_url.startswith(("redis", "rediss")):
        # Must exceed the longest batch, or Redis hands an unacked job to a second worker. A dead
        # worker's jobs come back once it has passed: sweep for them every few seconds (kombu's
        # default sweep runs only every ~100 s).
        return {
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 2)),
            "unacked_restore_throttle": 1,
        }
    return {"confirm_publish": True}


def check_broker(app: Celery, timeout_s: float = 2.0) -> str:
    """ "ok" when the broker takes a connection now, else why not (for readiness checks)."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout_s)
        return "ok"
    except Exception as exc:  # any transport error means "not reachable"
        return f"unreachable: {type(exc).__name__}: {exc}"
