"""Faults a caller must hear about: a broker that is down, a store that is down."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.jobs import new_id
from core.settings import load_settings
from ops.stack import build_stack
from persistence.migrate import upgrade
from producers.api import create_app
from tests.support.services import free_port

pytestmark = pytest.mark.integration


def test_unpublishable_message_is_a_503_and_leaves_nothing_stored(tmp_path: Path):
    # Given a store that works and a Redis broker URL where nothing listens
    store_url = f"sqlite:///{tmp_path / 'babelq.db'}"
    upgrade(store_url)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    stack = build_stack(load_settings(broker_url=nowhere, database_url=store_url))
    with TestClient(create_app(stack)) as client:
        conversation = new_id()
        # When a message is posted
        response = client.post(
            "/v1/messages", json={"text": "Where is my parcel?", "conversation_id": conversation}
        )
        # Expect a clear error, no conversation or job kept, and /readyz saying why
        assert response.status_code == 503
        assert "could not publish" in response.json()["detail"]
        assert client.get(f"/v1/conversations/{conversation}").status_code == 404
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
    key = {"Idempotency-Key": "retry-me"}
    down = build_stack(load_settings(broker_url=nowhere, database_url=store_url))
    with TestClient(create_app(down)) as client:
        assert (
            client.post("/v1/messages", json={"text": "Where is my parcel?"}, headers=key).status_code == 503
        )
    down.close()
    # the broker is back: the client's retry with the same key is taken (not a conflict)
    up = build_stack(load_settings(broker_url=redis_url, database_url=store_url))
    with TestClient(create_app(up)) as client:
        retried = client.post("/v1/messages", json={"text": "Where is my parcel?"}, headers=key)
        assert retried.status_code == 202
        assert client.get(f"/v1/jobs/{retried.json()['job_id']}").json()["status"] == "queued"
    up.close()
