"""Where the real services live on a developer's or CI's machine, and small helpers around them."""

from __future__ import annotations

import os
import socket

import psycopg
from psycopg import sql

from ops.faults.services import free_port  # noqa: F401  (tests import it from here)

REDIS_URL = os.environ.get("BABELQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
AMQP_URL = os.environ.get("BABELQ_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_ADMIN_URL = os.environ.get("BABELQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def redis_reachable() -> bool:
    return _port_open(6379)


def amqp_reachable() -> bool:
    return _port_open(5672)


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def create_database(admin_url: str, name: str) -> str:
    """Create an empty database for one test session and return its SQLAlchemy URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
