"""Faults a caller must hear about: a broker that is down, a store that is down.

The caller is the Python client (an error answer is its ApiError, with the status and the detail);
what the client does not show, /readyz and a Retry-After header, is read raw.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from core.errors import ApiError
from core.jobs import new_id, utcnow
from core.settings import load_settings
from ops.faults.services import CuttableProxy
from persistence import idempotency
from persistence.migrate import upgrade
from persistence.models import IdempotencyKey
from producers.api import create_app
from producers.messages import MessageIn, request_hash
from producers.stack import Stack, build_stack
from tests.support.api import in_process, queued
from tests.support.services import free_port

pytestmark = pytest.mark.integration


def test_unpublishable_message_is_a_503_and_leaves_nothing_stored(tmp_path: Path):
    # Given a store that works and a Redis broker URL where nothing listens
    store_url = f"sqlite:///{tmp_path / 'babelq.db'}"
    upgrade(store_url)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    stack = build_stack(load_settings(broker_url=nowhere, database_url=store_url))
    with TestClient(create_app(stack)) as client:
        api = in_process(client)
        conversation = new_id()
        # When a message is posted
        with pytest.raises(ApiError) as refused:
            api.send("Where is my parcel?", conversation_id=conversation)
        # Expect a clear error, no conversation or job kept, and /readyz saying why
        assert refused.value.status == 503
        assert "could not publish" in refused.value.detail
        with pytest.raises(ApiError) as unknown:
            api.conversation(conversation)
        assert unknown.value.status == 404
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["broker"].startswith("unreachable") and ready.json()["store"] == "ok"
    stack.close()


def test_readyz_reports_an_unreachable_store(redis_url: str, tmp_path: Path):
    stack = build_stack(
        load_settings(
            broker_url=redis_url, database_url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x"
        )
    )
    with TestClient(create_app(stack)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["broker"] == "ok" and ready.json()["store"].startswith("unreachable")
        assert client.get("/healthz").json() == {"status": "ok"}
    stack.close()


def test_an_idempotency_key_whose_request_could_not_be_published_may_be_used_again(
    redis_url: str, tmp_path: Path
):
    store_url = f"sqlite:///{tmp_path / 'babelq.db'}"
    upgrade(store_url)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    key = "retry-me"
    down = build_stack(load_settings(broker_url=nowhere, database_url=store_url))
    with TestClient(create_app(down)) as client, pytest.raises(ApiError) as refused:
        in_process(client).send("Where is my parcel?", idempotency_key=key)
    assert refused.value.status == 503
    down.close()
    # the broker is back: the client's retry with the same key is taken (not a conflict)
    up = build_stack(load_settings(broker_url=redis_url, database_url=store_url))
    with TestClient(create_app(up)) as client:
        api = in_process(client)
        retried = queued(api.send("Where is my parcel?", idempotency_key=key))
        assert api.job(retried.job_id).status == "queued"
    up.close()


def test_a_store_that_goes_down_mid_request_is_a_503_and_the_key_is_taken_over_later(
    redis_url: str, postgres_url: str
):
    # given an API whose PostgreSQL connections go through a proxy that can be cut
    parts = urlsplit(postgres_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    upgrade(postgres_url)
    stack = build_stack(load_settings(broker_url=redis_url, database_url=proxied))
    body, key = {"text": "Where is my parcel?", "language": "en"}, f"k-{new_id()}"
    try:
        with TestClient(create_app(stack)) as client:
            api = in_process(client)
            # a request that reserved its key and then lost the store, before it could free the key
            abandoned = new_id()
            stored = idempotency.scoped_key("api", MessageIn(**body).channel, key)  # type: ignore[arg-type]
            assert idempotency.reserve(stack.factory, stored, _hash(body), abandoned) is None
            proxy.cut()
            # raw: the Retry-After header, exactly as sent, is part of the contract
            down = client.post("/v1/messages", json=body, headers={"Idempotency-Key": key})
            assert down.status_code == 503 and down.headers["Retry-After"] == "1"
            assert "store is unavailable" in down.json()["detail"]
            proxy.mend()
            # a retry soon after: the first request may still be under way
            with pytest.raises(ApiError) as busy:
                api.send(body["text"], language=body["language"], idempotency_key=key)
            assert busy.value.status == 409 and "in progress" in busy.value.detail
            # past ABANDONED_AFTER, the retry takes the key over and makes the job it names
            _backdate_key(stack, stored, idempotency.ABANDONED_AFTER + timedelta(seconds=1))
            taken = queued(api.send(body["text"], language=body["language"], idempotency_key=key))
            assert taken.job_id == abandoned
            again = api.send(body["text"], language=body["language"], idempotency_key=key)
            assert again.job_id == abandoned
    finally:
        stack.close()
        proxy.close()


def _hash(body: dict[str, str]) -> str:
    return request_hash(MessageIn(**body))  # type: ignore[arg-type]


def _backdate_key(stack: Stack, key: str, ago: timedelta) -> None:
    with stack.factory.begin() as session:
        session.execute(
            update(IdempotencyKey).where(IdempotencyKey.key == key).values(created_at=utcnow() - ago)
        )
