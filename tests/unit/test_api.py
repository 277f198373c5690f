"""API contract on the in-memory broker with no worker: jobs stay queued, bad input is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.jobs import new_id
from core.settings import load_settings
from ops.stack import build_stack
from persistence.migrate import upgrade
from producers.api import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(var_dir=str(tmp_path))
    upgrade(settings.store_url)
    stack = build_stack(settings)
    with TestClient(create_app(stack)) as client:
        yield client
    stack.close()


def test_accepted_message_is_queued_with_its_route(client: TestClient):
    response = client.post("/v1/messages", json={"text": "Hej! Jag har inte fått min beställning ännu."})
    assert response.status_code == 202
    body = response.json()
    assert (body["language"], body["queue"], body["status"]) == ("sv", "chat.default", "queued")
    job = client.get(f"/v1/jobs/{body['job_id']}").json()
    assert job["status"] == "queued" and job["answer"] is None


def test_wait_that_times_out_returns_202(client: TestClient):
    response = client.post("/v1/messages?wait=0.2", json={"text": "hello there, where is my order?"})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


def test_explicit_language_wins_and_is_folded(client: TestClient):
    body = client.post("/v1/messages", json={"text": "ok", "language": "zh-Hant-TW"}).json()
    assert (body["language"], body["queue"], body["language_source"]) == ("zh", "chat.zh", "explicit")


@pytest.mark.parametrize(
    ("request_kwargs", "status", "fragment"),
    [
        ({"json": {"text": ""}}, 422, "empty"),
        ({"json": {"text": "x" * 4001}}, 422, "limit is 4000"),
        ({"json": {"text": 12}}, 422, "string"),
        ({"json": {"text": "hi", "conversation_id": "abc"}}, 422, "UUID"),
        ({"content": b"{oops", "headers": {"content-type": "application/json"}}, 422, "JSON"),
        ({"content": b"x" * 70_000, "headers": {"content-type": "application/json"}}, 413, "bytes"),
    ],
)
def test_bad_input_is_refused_clearly_and_stores_nothing(
    client: TestClient, request_kwargs, status, fragment
):
    response = client.post("/v1/messages", **request_kwargs)
    assert response.status_code == status
    assert fragment in response.text


def test_wait_over_sixty_seconds_is_refused(client: TestClient):
    assert client.post("/v1/messages?wait=61", json={"text": "hi"}).status_code == 422


def test_unknown_ids_are_404(client: TestClient):
    assert client.get(f"/v1/jobs/{new_id()}").status_code == 404
    assert client.get("/v1/jobs/not-a-uuid").status_code == 404
    assert client.get(f"/v1/conversations/{new_id()}").status_code == 404
