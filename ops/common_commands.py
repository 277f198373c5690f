"""What the `babelq` commands open, in one place: the settings (read once a command, logging set
up as they say), the check that a shared broker is configured, and the Celery app, the stack or
the store on it. The parts are imported when a command opens them: every `babelq` start loads
every command group, and a liveness check should not pay for the broker's client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core.errors import BabelqError
from core.settings import Settings, load_settings
from ops.logs import configure_logging

if TYPE_CHECKING:
    from celery import Celery

    from persistence.db import SessionFactory
    from producers.stack import Stack


def command_settings() -> Settings:
    """The settings for one command, with logging in the format they name."""
    configure_logging()  # a bad setting is logged in the default format
    settings = load_settings()
    if settings.log_format != "text":
        configure_logging(settings.log_format)
    return settings


def require_real_broker(settings: Settings, command: str) -> None:
    """Refuse the embedded broker: `command` runs as its own process, or talks to processes."""
    if settings.embedded:
        raise BabelqError(
            f"`babelq {command}` runs as its own process and needs a shared broker: set "
            "BABELQ_BROKER_URL=redis://… or amqp://… (or use `babelq run` for the embedded stack)"
        )


def broker_settings(command: str) -> Settings:
    """The settings for a command that needs a shared broker, refused on the embedded one."""
    settings = command_settings()
    require_real_broker(settings, command)
    return settings


def celery_app_for(command: str) -> Celery:
    """The Celery app on the shared broker, with the routing table's queues."""
    from routing.table import load_table
    from transport.celery_app import create_celery_app

    settings = broker_settings(command)
    return create_celery_app(settings, load_table(settings.routes_file))


@contextmanager
def open_stack(command: str) -> Iterator[Stack]:
    """The whole stack (store, Celery app, routing table) on the shared broker, for one command."""
    from producers.stack import build_stack

    stack = build_stack(broker_settings(command))
    try:
        yield stack
    finally:
        stack.close()


@contextmanager
def open_store(settings: Settings | None = None) -> Iterator[SessionFactory]:
    """A session factory on the configured store, for one command (migrated first in the
    development stack, as `babelq run` does; elsewhere `babelq db upgrade` is the operator's)."""
    from persistence.db import make_engine, make_session_factory
    from persistence.migrate import upgrade

    settings = settings or command_settings()
    if settings.embedded:
        upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
