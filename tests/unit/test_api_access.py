"""Channels' keys on the API: a key posts as its channel and reads only its channel's jobs and
conversations (anything else is 404); bad keys are 401 and store nothing; limits give 429."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.errors import ApiError
from core.settings import load_settings
from persistence import api_keys
from persistence.migrate import upgrade
from producers.api import create_app
from producers.client import Client
from producers.schemas import Accepted
from producers.stack import build_stack


@contextmanager
def api(tmp_path: Path, **settings: object) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API (in-memory broker, no worker) and a key for the channels "shop" and "bank"."""
    values = load_settings(var_dir=str(tmp_path), **settings)
    upgrade(values.store_url)
    stack = build_stack(values)
    keys = {channel: api_keys.create(stack.factory, channel) for channel in ("shop", "bank")}
    with TestClient(create_app(stack)) as http:
        yield http, keys
    stack.close()


@pytest.fixture
def production(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with api(tmp_path, require_api_keys=True) as pair:
        yield pair


def _jobs(tmp_path: Path) -> int:
    import sqlite3

    with sqlite3.connect(tmp_path / "babelq.db") as db:
        return int(db.execute("select count(*) from jobs").fetchone()[0])


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer bq_aaaaaaaaaaaa_" + "x" * 43, "Basic abc"])
def test_a_missing_or_bad_key_is_401_and_stores_nothing(production, tmp_path: Path, header):
    http, _keys = production
    headers = {"Authorization": header} if header else {}
    response = http.post("/v1/messages", json={"text": "Hola, ¿dónde está mi pedido?"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"]
    assert _jobs(tmp_path) == 0


def test_a_request_without_a_key_is_401_before_its_limits_are_read(production, tmp_path: Path):
    http, _keys = production
    over = {"text": "x" * 20_000}
    assert http.post("/v1/messages?wait=1000", json=over).status_code == 401
    assert http.get(f"/v1/jobs/{'0' * 8}-0000-4000-8000-{'0' * 12}?wait=1000").status_code == 401
    assert _jobs(tmp_path) == 0


def test_a_key_posts_as_its_channel_and_reads_only_its_own(production):
    http, keys = production
    shop, bank = Client(http=http, api_key=keys["shop"]), Client(http=http, api_key=keys["bank"])
    sent = shop.send("Hola, ¿dónde está mi pedido número 12?")
    assert isinstance(sent, Accepted)
    assert shop.job(sent.job_id).job_id == sent.job_id
    assert shop.conversation(sent.conversation_id).turns[0].text.startswith("Hola")
    for read in (lambda: bank.job(sent.job_id), lambda: bank.conversation(sent.conversation_id)):
        with pytest.raises(ApiError) as refused:
            read()
        assert refused.value.status == 404  # not 403: the id tells the other channel nothing
    with pytest.raises(ApiError) as into_theirs:
        bank.send("Y mi pedido?", conversation_id=sent.conversation_id)
    assert into_theirs.value.status == 404


def test_the_key_is_also_taken_in_x_api_key(production):
    http, keys = production
    response = http.post(
        "/v1/messages", json={"text": "Where is my parcel?"}, headers={"X-API-Key": keys["shop"]}
    )
    assert response.status_code == 202


def test_posting_as_another_channel_is_refused(production, tmp_path: Path):
    http, keys = production
    with pytest.raises(ApiError) as refused:
        Client(http=http, api_key=keys["shop"]).send("Where is my parcel?", channel="bank")
    assert refused.value.status == 403
    assert _jobs(tmp_path) == 0


def test_a_revoked_key_is_401(tmp_path: Path):
    with api(tmp_path) as (http, keys):
        client = Client(http=http, api_key=keys["shop"])
        client.send("Where is my parcel?")
        key_id = keys["shop"].split("_")[1]
        assert api_keys.revoke(_factory(tmp_path), key_id)
        with pytest.raises(ApiError) as refused:
            client.send("Where is my parcel now?")
        assert refused.value.status == 401 and "revoked" in refused.value.detail


def test_health_and_metrics_need_no_key_where_keys_are_required(production):
    http, _keys = production
    assert http.get("/healthz").status_code == 200
    assert http.get("/metrics").status_code == 200
    assert http.get("/v1/cache").status_code == 401


def test_without_required_keys_a_request_without_one_still_works_and_a_key_still_scopes(tmp_path: Path):
    with api(tmp_path) as (http, keys):
        open_sent = Client(http=http).send("Where is my parcel?")
        assert isinstance(open_sent, Accepted)
        with pytest.raises(ApiError) as refused:
            Client(http=http, api_key=keys["bank"]).job(open_sent.job_id)  # an "api" channel job
        assert refused.value.status == 404


def test_idempotency_keys_of_two_channels_do_not_meet(production):
    http, keys = production
    shop, bank = Client(http=http, api_key=keys["shop"]), Client(http=http, api_key=keys["bank"])
    first = shop.send("Where is my parcel?", idempotency_key="order-1")
    other = bank.send("Where is my money?", idempotency_key="order-1")  # no 409: another channel's key
    assert first.job_id != other.job_id


def _factory(tmp_path: Path):
    from persistence.db import make_engine, make_session_factory

    return make_session_factory(make_engine(f"sqlite:///{(tmp_path / 'babelq.db').resolve()}"))


def test_every_route_and_the_key_schemes_are_in_the_openapi_document(production):
    http, _keys = production
    document = http.get("/openapi.json").json()
    for path in (
        "/",
        "/v1/messages",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/events",
        "/v1/conversations/{conversation_id}",
        "/v1/channels/{name}/webhook",
    ):
        assert path in document["paths"], path
    schemes = document["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} == {"http", "apiKey"}
    assert "security" in document["paths"]["/v1/messages"]["post"]
