"""API contract on the in-memory broker with no worker: jobs stay queued, bad input is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.errors import ConfigurationError
from core.jobs import TEXT_CHARS_CEILING, new_id
from core.settings import load_settings
from persistence.migrate import upgrade
from producers.api import create_app
from producers.stack import build_stack


@contextmanager
def api_client(tmp_path: Path, **settings: object) -> Iterator[TestClient]:
    values = load_settings(var_dir=str(tmp_path), **settings)
    upgrade(values.store_url)
    stack = build_stack(values)
    with TestClient(create_app(stack)) as client:
        yield client
    stack.close()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api_client(tmp_path) as client:
        yield client


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


def test_the_text_limit_is_the_setting_both_ways(tmp_path: Path):
    # given an API whose limit is 8,000 characters, then one whose limit is 10
    with api_client(tmp_path / "long", max_text_chars=8000) as client:
        # expect a 6,000-character message accepted (over the 4,000 default)
        assert client.post("/v1/messages", json={"text": "x" * 6000}).status_code == 202
    with api_client(tmp_path / "short", max_text_chars=10) as client:
        refused = client.post("/v1/messages", json={"text": "hello world"})
        # expect an 11-character message refused with the limit named, as FastAPI words a body error
        assert refused.status_code == 422 and "limit is 10" in refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "text"]
        assert client.post("/v1/messages", json={"text": "hello"}).status_code == 202


def test_the_default_limits_are_named_in_their_422s(client: TestClient):
    # given the shipped limits (4,000 characters, 60 s of wait), expect each named when passed
    refused = client.post("/v1/messages", json={"text": "x" * 20_000})
    assert refused.status_code == 422 and "the limit is 4000" in refused.text
    waited = client.post("/v1/messages?wait=1000", json={"text": "hello"})
    assert waited.status_code == 422
    assert waited.json()["detail"][0]["msg"] == "Input should be less than or equal to 60"
    assert client.post("/v1/messages?wait=-1", json={"text": "hello"}).status_code == 422


def test_a_longest_message_fits_the_body_limit_however_it_is_encoded(tmp_path: Path):
    # given the longest text the wire allows, in Chinese, sent as ASCII-escaped JSON (6 bytes a char)
    body = json.dumps({"text": "货" * TEXT_CHARS_CEILING}, ensure_ascii=True).encode()
    assert len(body) > 64 * 1024
    with api_client(tmp_path, max_text_chars=TEXT_CHARS_CEILING) as client:
        response = client.post("/v1/messages", content=body, headers={"content-type": "application/json"})
        # expect it taken, not refused as too large
        assert response.status_code == 202


def test_a_body_that_is_not_json_is_refused(client: TestClient):
    response = client.post("/v1/messages", content=b'{"text": "hi"}', headers={"content-type": "text/plain"})
    assert response.status_code == 422


def test_the_wait_limit_is_the_setting(tmp_path: Path):
    with api_client(tmp_path, max_wait_s=2) as client:
        assert client.post("/v1/messages?wait=3", json={"text": "hi"}).status_code == 422
        assert client.post("/v1/messages?wait=0.1", json={"text": "hi"}).status_code == 202


def test_a_text_limit_above_the_wire_bound_is_refused_at_start_up():
    with pytest.raises(ConfigurationError, match="BABELQ_MAX_TEXT_CHARS"):
        load_settings(max_text_chars=TEXT_CHARS_CEILING + 1)


def test_the_message_schema_is_documented(tmp_path: Path):
    with api_client(tmp_path, max_text_chars=8000) as client:
        spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/messages"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/MessageIn"}
    assert spec["components"]["schemas"]["MessageIn"]["properties"]["text"]["type"] == "string"


def test_unknown_ids_are_404(client: TestClient):
    assert client.get(f"/v1/jobs/{new_id()}").status_code == 404
    assert client.get("/v1/jobs/not-a-uuid").status_code == 404
    assert client.get(f"/v1/conversations/{new_id()}").status_code == 404


def test_a_job_can_be_awaited_again_by_its_id(tmp_path: Path):
    # given a queued job (no worker here) whose first wait ran out
    with api_client(tmp_path, max_wait_s=2) as client:
        job_id = client.post("/v1/messages?wait=0.1", json={"text": "where is my order?"}).json()["job_id"]
        started = time.perf_counter()
        # expect GET to wait as long as asked, then report it still queued
        response = client.get(f"/v1/jobs/{job_id}?wait=0.3")
        assert response.status_code == 200 and response.json()["status"] == "queued"
        assert time.perf_counter() - started >= 0.3
        assert client.get(f"/v1/jobs/{job_id}?wait=3").status_code == 422  # over BABELQ_MAX_WAIT_S
        assert client.get(f"/v1/jobs/{new_id()}?wait=0.1").status_code == 404


def test_every_job_gets_a_deadline_the_request_may_set(tmp_path: Path):
    with api_client(tmp_path, job_deadline_s=120) as client:
        default = client.post("/v1/messages", json={"text": "where is my order?"}).json()["job_id"]
        asked = client.post("/v1/messages", json={"text": "where is my order?", "deadline_s": 30}).json()[
            "job_id"
        ]
        for job_id, seconds in ((default, 120), (asked, 30)):
            job = client.get(f"/v1/jobs/{job_id}").json()
            left = datetime.fromisoformat(job["deadline_at"]) - datetime.fromisoformat(job["created_at"])
            assert abs(left.total_seconds() - seconds) < 5
        for bad in (0, -1, 8 * 86400, "soon"):
            response = client.post("/v1/messages", json={"text": "hi", "deadline_s": bad})
            assert response.status_code == 422 and "deadline_s" in response.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"text": "hi", "user_ref": "a\x00b"}, "user_ref"),
        ({"text": "hi", "channel": "web\n"}, "channel"),
        ({"text": "hi \ud800 there"}, "text"),
        ({"text": "hi", "user_ref": "\udfff"}, "user_ref"),
    ],
)
def test_text_the_store_cannot_keep_is_a_422_not_a_500(tmp_path: Path, body, fragment):
    with api_client(tmp_path) as client:
        # JSON escapes carry what Python's own encoder refuses to send (lone surrogates)
        payload = json.dumps(body).encode()
        response = client.post("/v1/messages", content=payload, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert fragment in response.text


def test_a_page_cursor_beyond_64_bits_is_a_422(client: TestClient):
    cid = client.post("/v1/messages", json={"text": "hello"}).json()["conversation_id"]
    assert client.get(f"/v1/conversations/{cid}?before={2**70}").status_code == 422


def test_a_chunked_body_over_the_cap_is_a_413(client: TestClient):
    def chunks():
        yield b'{"text": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/v1/messages", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "bytes" in response.text


def test_a_retried_request_with_the_same_idempotency_key_is_the_same_job(client: TestClient):
    body = {"text": "Where is my parcel?", "conversation_id": new_id()}
    key = {"Idempotency-Key": f"order-{new_id()}"}
    first = client.post("/v1/messages", json=body, headers=key)
    again = client.post("/v1/messages", json=body, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"]
    turns = client.get(f"/v1/conversations/{body['conversation_id']}").json()["turns"]
    assert [t["role"] for t in turns] == ["user"]  # one user turn: one job
    # the same key with another body is a conflict, and changes nothing
    other = client.post("/v1/messages", json={**body, "text": "Something else"}, headers=key)
    assert other.status_code == 409 and "different request" in other.text
    # without a key (or with another one) a retry is a new job
    assert client.post("/v1/messages", json=body).json()["job_id"] != first.json()["job_id"]
    for bad in ("", "x" * 256, "has space"):
        assert client.post("/v1/messages", json=body, headers={"Idempotency-Key": bad}).status_code == 422


def test_metrics_count_accepted_jobs_and_show_the_queue_they_wait_on(client: TestClient):
    ready = 'babelq_queue_messages{queue="chat.en",state="ready"} '
    before = _sample(client.get("/metrics").text, ready)  # the in-process broker is shared by the module
    body = client.post("/v1/messages", json={"text": "Hello, where is my parcel? It is late."}).json()
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert f'babelq_jobs_accepted_total{{language="en",queue="{body["queue"]}"}} 1.0' in text
    # no worker: the job waits, ready, on its queue (the embedded broker knows of no unacked)
    assert body["queue"] == "chat.en" and _sample(text, ready) == before + 1
    assert body["job_id"] not in text


def _sample(text: str, prefix: str) -> float:
    return float(next(line for line in text.splitlines() if line.startswith(prefix)).removeprefix(prefix))


def test_a_message_posted_with_stream_is_marked_for_its_worker(tmp_path: Path):
    values = load_settings(var_dir=str(tmp_path))
    upgrade(values.store_url)
    stack = build_stack(values)
    with TestClient(create_app(stack)) as client:
        streamed = client.post("/v1/messages", json={"text": "Hola, ¿dónde está mi pedido?", "stream": True})
        plain = client.post("/v1/messages", json={"text": "Hola, ¿dónde está mi pedido?"})
        ids = [streamed.json()["job_id"], plain.json()["job_id"]]
        assert stack.partials.wanted(ids) == {ids[0]}
        # streaming is how an answer is watched, not what is asked: a retry may differ in it
        key = {"Idempotency-Key": "retry-1"}
        first = client.post("/v1/messages", json={"text": "Hej!", "stream": True}, headers=key)
        again = client.post("/v1/messages", json={"text": "Hej!"}, headers=key)
        assert again.status_code == 202 and again.json()["job_id"] == first.json()["job_id"]
        refused = client.post("/v1/messages", json={"text": "Hej!", "stream": "maybe"})
        assert refused.status_code == 422
    stack.close()


def test_a_stream_shows_status_tokens_and_the_answer_in_order(tmp_path: Path):
    """The events route driven by hand: what a worker does (begin, report texts, store) is done
    here step by step, each after the stream has shown the one before."""
    values = load_settings(var_dir=str(tmp_path))
    upgrade(values.store_url)
    stack = build_stack(values)
    with TestClient(create_app(stack)) as client:
        job_id = client.post("/v1/messages", json={"text": "Hola, ¿y mi pedido?", "stream": True}).json()[
            "job_id"
        ]
        worker_steps = iter(_worker_steps(stack, job_id))
        events: list[tuple[str, dict]] = []
        with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    events.append((kind, json.loads(line[5:])))
                    next(worker_steps, None)  # the next step, once this event is seen
    stack.close()
    kinds = [(kind, data.get("status") or data.get("delta")) for kind, data in events]
    assert kinds == [
        ("status", "queued"),
        ("status", "running"),
        ("token", "Hola,"),
        ("token", " ¿en qué"),
        ("token", "Bonjour"),
        ("status", "done"),
        ("answer", "done"),
    ]
    assert events[4][1]["text"] == "Bonjour"  # a text that does not extend the last: the whole
    assert events[-1][1]["answer"] == "Hola, ¿en qué puedo ayudarle?"


def _worker_steps(stack, job_id: str) -> Iterator[None]:
    """A worker's life for one job, one step per event the stream shows."""
    from core.jobs import ChatAnswer, JobStatus
    from persistence import answer_notices, job_lifecycle

    job_lifecycle.begin_jobs(stack.factory, [(job_id, "w1")], 4)
    stack.notices.announce(answer_notices.started([job_id]))
    yield
    stack.partials.report(job_id, "Hola,")
    yield
    stack.partials.report(job_id, "Hola, ¿en qué")
    yield
    stack.partials.report(job_id, "Bonjour")
    yield
    answer = ChatAnswer(
        job_id=job_id, text="Hola, ¿en qué puedo ayudarle?", language="es", status=JobStatus.DONE
    )
    job_lifecycle.store_answers(stack.factory, [answer])
    stack.notices.announce([job_id])
    yield


def test_a_locale_answers_what_the_text_does_not_tell_and_a_bad_one_is_refused(client: TestClient):
    short = client.post("/v1/messages", json={"text": "ok", "locale": "sv-SE"}).json()
    assert (short["language"], short["language_source"]) == ("sv", "locale")
    clear = client.post("/v1/messages", json={"text": "Hola, ¿dónde está mi pedido?", "locale": "sv"}).json()
    assert (clear["language"], clear["language_source"]) == ("es", "detected")
    refused = client.post("/v1/messages", json={"text": "ok", "locale": "not a tag"})
    assert refused.status_code == 422 and "locale" in refused.text


def test_a_language_no_queue_serves_goes_to_the_fallback_queue_with_its_own_tag(client: TestClient):
    body = client.post(
        "/v1/messages", json={"text": "Habari, oda yangu bado haijafika, naomba msaada"}
    ).json()
    assert (body["language"], body["queue"], body["language_source"]) == ("sw", "chat.default", "detected")
    bengali = client.post("/v1/messages", json={"text": "ধন্যবাদ"}).json()  # one word: the script decides
    assert (bengali["language"], bengali["language_source"]) == ("bn", "detected")


def test_a_locale_that_names_no_language_we_know_is_no_locale(client: TestClient):
    body = client.post("/v1/messages", json={"text": "ok", "locale": "xx"}).json()
    assert (body["language"], body["language_source"]) == ("en", "channel")
