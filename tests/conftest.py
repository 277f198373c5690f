"""Shared fixtures: the tiny model, the language detector, the stores, and the real services
(Redis, RabbitMQ, PostgreSQL).

Under CI=true an unreachable service fails the run; elsewhere its tests are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import load_settings
from persistence.db import SessionFactory
from persistence.migrate import upgrade
from routing.language import LanguageDetector
from routing.table import load_table
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
from tests.support.store import session_factory
from tests.support.tiny_model import VLLM_HIDDEN_SIZE, build_tiny_model
from transport.celery_app import create_celery_app
from transport.queues import declare_queues
from workers.model_loader import LoadedModel, load_model

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
def vllm_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with attention heads vLLM's CPU kernels take (32; the other one's are 16)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-vllm-model"), VLLM_HIDDEN_SIZE)


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path) -> LoadedModel:
    """The tiny model loaded on the CPU, shared by a module's tests."""
    return load_model(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    """The default detector, its language-identification model already loaded."""
    detector = LanguageDetector()
    detector.detect("warm up")
    return detector


@pytest.fixture(scope="session")
def redis_url() -> str:
    require("Redis", redis_reachable())
    return REDIS_URL


@pytest.fixture(scope="session")
def amqp_url() -> str:
    require("RabbitMQ", amqp_reachable())
    # A broker last used by an older babelq holds its queues with other arguments: empty ones are
    # declared anew, as `babelq queues declare --recreate-empty` does.
    app = create_celery_app(load_settings(broker_url=AMQP_URL), load_table(None))
    declare_queues(app, recreate_empty=True)
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


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each store babelq supports, with no tables yet."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def migrated_store_url(store_url: str) -> str:
    """Each store, migrated to the latest revision."""
    upgrade(store_url)
    return store_url


@pytest.fixture
def factory(migrated_store_url: str) -> Iterator[SessionFactory]:
    """Sessions on each migrated store."""
    with session_factory(migrated_store_url) as factory:
        yield factory
