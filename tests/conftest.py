"""Shared fixtures: the tiny model, and the real services (Redis, RabbitMQ, PostgreSQL).

Under CI=true an unreachable service fails the run; elsewhere its tests are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import (
    AMQP_URL,
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    amqp_reachable,
    create_database,
    drop_database,
    postgres_reachable,
    redis_reachable,
)
from tests.support.tiny_model import build_tiny_model

IN_CI = os.environ.get("CI") == "true"


def require(service: str, reachable: bool) -> None:
    if reachable:
        return
    message = f"{service} is not reachable on 127.0.0.1"
    if IN_CI:
        pytest.fail(f"{message}; CI needs it (start it as .ci/run does)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    require("Redis", redis_reachable())
    return REDIS_URL


@pytest.fixture(scope="session")
def amqp_url() -> str:
    require("RabbitMQ", amqp_reachable())
    return AMQP_URL


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    require("PostgreSQL", postgres_reachable())
    name = f"babelq_test_{uuid.uuid4().hex[:10]}"
    url = create_database(POSTGRES_ADMIN_URL, name)
    yield url
    drop_database(POSTGRES_ADMIN_URL, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'babelq.db'}"
