"""Webhooks in: generic HMAC with a timestamp, Telegram's secret token, Slack's v0 signature
and url_verification; refused ones store nothing; a provider's retry is the same job."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from core.channels import Webhook
from core.errors import BadSignature, InvalidInput
from producers.webhooks import ChatIds, Incoming, Reply, read_webhook, sign_generic, sign_slack
from tests.unit.test_api_access import api

SECRET = "s3cret-for-tests"
NOW = 1_790_000_000.0
GENERIC = Webhook(kind="generic", secret_env="X")
SLACK = Webhook(kind="slack", secret_env="X")
TELEGRAM = Webhook(kind="telegram", secret_env="X")
IDS = ChatIds(b"a deployment key of at least 32 characters")


def _generic(body: dict, at: float = NOW, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"x-babelq-timestamp": str(int(at)), "x-babelq-signature": sign_generic(secret, raw, int(at))}


def _slack(body: dict, at: float = NOW, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {
        "x-slack-request-timestamp": str(int(at)),
        "x-slack-signature": sign_slack(secret, raw, int(at)),
    }


def test_a_signed_generic_message_is_read_with_its_user_and_chat():
    raw, headers = _generic(
        {"text": "¿Dónde está mi pedido?", "user": "u-7", "chat": "c-1", "event_id": "e-9"}
    )
    incoming = read_webhook("shop", GENERIC, SECRET, raw, headers, now=NOW + 10, ids=IDS)
    assert incoming == Incoming(
        "¿Dónde está mi pedido?", "u-7", IDS.conversation("shop", "c-1"), "e-9", None, "c-1"
    )


def test_a_chats_conversation_id_is_keyed_with_the_deployments_secret():
    """Given the chat's channel and id, expect one UUID, another for another channel, and one no
    formula without the key gives: another deployment's key makes another id."""
    chat = IDS.conversation("shop", "c-1")
    assert chat == IDS.conversation("shop", "c-1") and uuid.UUID(chat).version == 8
    assert chat != IDS.conversation("bank", "c-1")
    assert chat != ChatIds(b"another deployment's key, also 32 chars").conversation("shop", "c-1")
    assert chat != str(uuid.uuid5(uuid.NAMESPACE_URL, "shop\x1fc-1"))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda raw, h: (raw + b" ", h),  # the body changed after signing
        lambda raw, h: (raw, {**h, "x-babelq-signature": sign_generic("other", raw, int(NOW))}),
        lambda raw, h: (raw, {k: v for k, v in h.items() if k != "x-babelq-signature"}),
        lambda raw, h: (raw, {**h, "x-babelq-timestamp": "soon"}),
    ],
)
def test_a_generic_message_that_does_not_verify_is_refused(tamper):
    raw, headers = tamper(*_generic({"text": "hi", "user": "u"}))
    with pytest.raises(BadSignature):
        read_webhook("shop", GENERIC, SECRET, raw, headers, now=NOW, ids=IDS)


@pytest.mark.parametrize(("skew", "why"), [(-301, "stale"), (31, "future"), (299, "future")])
def test_a_stale_or_future_timestamp_is_refused_even_when_signed(skew, why):
    raw, headers = _generic({"text": "hi", "user": "u"}, at=NOW + skew)
    with pytest.raises(BadSignature, match=why):
        read_webhook("shop", GENERIC, SECRET, raw, headers, now=NOW, ids=IDS)


def test_a_clock_a_little_ahead_is_taken():
    raw, headers = _generic({"text": "hi", "user": "u"}, at=NOW + 25)
    assert isinstance(read_webhook("shop", GENERIC, SECRET, raw, headers, now=NOW, ids=IDS), Incoming)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-babelq-timestamp": "9" * 5000, "x-babelq-signature": "sha256=00"},
        {
            "x-babelq-timestamp": "１７９００００００００",
            "x-babelq-signature": "sha256=00",
        },  # fullwidth digits
        {"x-babelq-timestamp": str(int(NOW)), "x-babelq-signature": "sha256=é"},
    ],
)
def test_malformed_signature_headers_are_a_bad_signature(headers):
    with pytest.raises(BadSignature):
        read_webhook("shop", GENERIC, SECRET, b"{}", headers, now=NOW, ids=IDS)


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"text": ' + b"9" * 5000 + b"}"])
def test_signed_bodies_python_cannot_read_are_invalid_input(body):
    _, headers = _generic({}, at=NOW)
    headers["x-babelq-signature"] = sign_generic(SECRET, body, int(NOW))
    with pytest.raises(InvalidInput):
        read_webhook("shop", GENERIC, SECRET, body, headers, now=NOW, ids=IDS)


@pytest.mark.parametrize("body", [b"not json", b"[1]", json.dumps({"user": "u"}).encode()])
def test_a_generic_body_that_is_no_message_is_invalid(body):
    headers = {
        "x-babelq-timestamp": str(int(NOW)),
        "x-babelq-signature": sign_generic(SECRET, body, int(NOW)),
    }
    with pytest.raises(InvalidInput):
        read_webhook("shop", GENERIC, SECRET, body, headers, now=NOW, ids=IDS)


def _update(text: object = "Hallo, wo ist mein Paket?", **extra: object) -> bytes:
    message = {"message_id": 5, "from": {"id": 42, "is_bot": False}, "chat": {"id": -100}, "text": text}
    return json.dumps({"update_id": 777, "message": {**message, **extra}}).encode()


def test_a_telegram_update_needs_its_secret_token():
    token = {"x-telegram-bot-api-secret-token": SECRET}
    incoming = read_webhook("tg", TELEGRAM, SECRET, _update(), token, now=NOW, ids=IDS)
    assert isinstance(incoming, Incoming)
    assert (incoming.user_ref, incoming.event_key, incoming.reply_to) == ("42", "777", "-100")
    with pytest.raises(BadSignature):
        read_webhook(
            "tg", TELEGRAM, SECRET, _update(), {"x-telegram-bot-api-secret-token": "no"}, now=NOW, ids=IDS
        )


def test_telegram_updates_that_are_not_a_persons_text_are_acknowledged_and_ignored():
    token = {"x-telegram-bot-api-secret-token": SECRET}
    sticker = json.dumps({"update_id": 1, "message": {"chat": {"id": 1}, "sticker": {}}}).encode()
    from_bot = _update(**{"from": {"id": 9, "is_bot": True}})
    for body in (sticker, from_bot, json.dumps({"update_id": 2, "edited_message": {}}).encode()):
        assert isinstance(read_webhook("tg", TELEGRAM, SECRET, body, token, now=NOW, ids=IDS), Reply)


def test_slack_url_verification_is_answered_with_its_challenge():
    raw, headers = _slack({"type": "url_verification", "challenge": "abc123", "token": "t"})
    assert read_webhook("sl", SLACK, SECRET, raw, headers, now=NOW, ids=IDS) == Reply({"challenge": "abc123"})


def test_a_slack_message_event_is_read_and_bots_and_edits_are_ignored():
    event = {"type": "message", "user": "U1", "text": "Où est ma commande ?", "channel": "D9", "ts": "1.2"}
    raw, headers = _slack({"type": "event_callback", "event_id": "Ev1", "event": event})
    incoming = read_webhook("sl", SLACK, SECRET, raw, headers, now=NOW, ids=IDS)
    assert isinstance(incoming, Incoming) and (incoming.user_ref, incoming.event_key) == ("U1", "Ev1")
    for other in ({"bot_id": "B1"}, {"subtype": "message_changed"}):
        raw, headers = _slack({"type": "event_callback", "event_id": "Ev2", "event": {**event, **other}})
        assert isinstance(read_webhook("sl", SLACK, SECRET, raw, headers, now=NOW, ids=IDS), Reply)


def test_slack_signatures_and_their_five_minute_window_are_checked():
    raw, headers = _slack({"type": "url_verification", "challenge": "x"}, secret="wrong")
    with pytest.raises(BadSignature):
        read_webhook("sl", SLACK, SECRET, raw, headers, now=NOW, ids=IDS)
    raw, headers = _slack({"type": "url_verification", "challenge": "x"}, at=NOW - 301)
    with pytest.raises(BadSignature, match="stale"):
        read_webhook("sl", SLACK, SECRET, raw, headers, now=NOW, ids=IDS)


CHANNELS = """
channels:
  shop: {webhook: {kind: generic, secret_env: TEST_SHOP_SECRET}}
  sl: {webhook: {kind: slack, secret_env: TEST_SLACK_SECRET}}
"""


def _rows(tmp_path: Path, table: str) -> int:
    with sqlite3.connect(tmp_path / "babelq.db") as db:
        return int(db.execute(f"select count(*) from {table}").fetchone()[0])


@pytest.fixture
def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TEST_SHOP_SECRET", SECRET)
    monkeypatch.setenv("TEST_SLACK_SECRET", SECRET)
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS, encoding="utf-8")
    with api(tmp_path, channels_file=str(path), require_api_keys=True) as (http, _keys):
        yield http


def test_a_webhook_makes_a_job_of_its_channel_and_a_retry_is_the_same_job(hooks, tmp_path: Path):
    raw, headers = _generic({"text": "Wo ist mein Paket?", "user": "u-1", "event_id": "ev-1"}, at=time.time())
    first = hooks.post("/v1/channels/shop/webhook", content=raw, headers=headers)
    assert first.status_code == 202, first.text
    again = hooks.post("/v1/channels/shop/webhook", content=raw, headers=headers)
    assert again.json() == {"ok": True, "job_id": first.json()["job_id"], "duplicate": True}
    assert _rows(tmp_path, "jobs") == 1
    with sqlite3.connect(tmp_path / "babelq.db") as db:
        assert db.execute("select channel, user_ref from jobs").fetchone() == ("shop", "u-1")


def test_refused_webhooks_store_nothing(hooks, tmp_path: Path):
    raw, headers = _generic({"text": "hi", "user": "u"}, at=time.time())
    assert hooks.post("/v1/channels/shop/webhook", content=raw + b" ", headers=headers).status_code == 401
    stale_raw, stale = _generic({"text": "hi", "user": "u"}, at=time.time() - 600)
    assert hooks.post("/v1/channels/shop/webhook", content=stale_raw, headers=stale).status_code == 401
    bad_raw, bad = _generic({"user": "u"}, at=time.time())
    assert hooks.post("/v1/channels/shop/webhook", content=bad_raw, headers=bad).status_code == 422
    assert hooks.post("/v1/channels/nope/webhook", content=raw, headers=headers).status_code == 404
    assert _rows(tmp_path, "jobs") == 0 and _rows(tmp_path, "conversations") == 0


def test_slack_verification_through_the_route(hooks, tmp_path: Path):
    raw, headers = _slack({"type": "url_verification", "challenge": "ch-1"}, at=time.time())
    response = hooks.post("/v1/channels/sl/webhook", content=raw, headers=headers)
    assert response.status_code == 200 and response.json() == {"challenge": "ch-1"}
    assert _rows(tmp_path, "jobs") == 0


def test_a_telegram_users_language_setting_is_kept_as_their_locale():
    token = {"x-telegram-bot-api-secret-token": SECRET}
    sender = {"id": 42, "is_bot": False, "language_code": "pt-br"}
    incoming = read_webhook(
        "tg", TELEGRAM, SECRET, _update("ok", **{"from": sender}), token, now=NOW, ids=IDS
    )
    assert isinstance(incoming, Incoming) and incoming.locale == "pt-br"


def test_a_first_message_too_short_to_tell_is_answered_in_the_users_locale(hooks, tmp_path: Path):
    raw, headers = _generic({"text": "ok", "user": "u-2", "locale": "pt-BR"}, at=time.time())
    response = hooks.post("/v1/channels/shop/webhook", content=raw, headers=headers)
    assert response.status_code == 202, response.text
    assert (response.json()["language"], response.json()["queue"]) == ("pt", "chat.default")
    odd, headers = _generic({"text": "ok", "user": "u-3", "locale": "???"}, at=time.time())
    ignored = hooks.post("/v1/channels/shop/webhook", content=odd, headers=headers)
    assert ignored.status_code == 202 and ignored.json()["language"] == "en"  # a provider's odd value


def test_a_signed_request_without_event_id_replayed_is_the_same_job(hooks, tmp_path: Path):
    raw, headers = _generic({"text": "Wo ist mein Paket?", "user": "u-9"}, at=time.time())
    replies = [hooks.post("/v1/channels/shop/webhook", content=raw, headers=headers) for _ in range(3)]
    assert [reply.status_code for reply in replies] == [202, 200, 200]
    assert {reply.json()["job_id"] for reply in replies} == {replies[0].json()["job_id"]}
    assert _rows(tmp_path, "jobs") == 1
    # The same text sent again as a new request (a new timestamp, so a new signature): a new job.
    raw, later = _generic({"text": "Wo ist mein Paket?", "user": "u-9"}, at=time.time() + 1)
    assert hooks.post("/v1/channels/shop/webhook", content=raw, headers=later).status_code == 202
    assert _rows(tmp_path, "jobs") == 2


def test_malformed_webhooks_are_4xx_and_store_nothing(hooks, tmp_path: Path):
    raw, headers = _generic({"text": "hi", "user": "u"}, at=time.time())
    huge = {**headers, "x-babelq-timestamp": "7" * 5000}
    assert hooks.post("/v1/channels/shop/webhook", content=raw, headers=huge).status_code == 401
    future_raw, future = _generic({"text": "hi", "user": "u"}, at=time.time() + 299)
    assert hooks.post("/v1/channels/shop/webhook", content=future_raw, headers=future).status_code == 401
    nested = b"[" * 20_000 + b"]" * 20_000  # within the body limit, far past Python's stack
    now = int(time.time())
    signed = {"x-babelq-timestamp": str(now), "x-babelq-signature": sign_generic(SECRET, nested, now)}
    reply = hooks.post("/v1/channels/shop/webhook", content=nested, headers=signed)
    assert reply.status_code == 422 and "Traceback" not in reply.text
    assert _rows(tmp_path, "jobs") == 0 and _rows(tmp_path, "conversations") == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"chat": "room\u0000-1"},  # PostgreSQL keeps no NUL: refused before anything is stored
        {"chat": "\ud800"},  # a lone surrogate has no UTF-8 form
        {"user": "\ud800"},
        {"event_id": "e\u0000"},
        {"event_id": "e" * 300},
    ],
)
def test_ids_a_store_cannot_keep_are_422_and_store_nothing(hooks, tmp_path: Path, fields):
    body = {"text": "Where is my order?", "user": "u-1", **fields}
    raw = json.dumps(body).encode()  # ASCII escapes: the JSON is valid, the strings are not storable
    now = int(time.time())
    headers = {"x-babelq-timestamp": str(now), "x-babelq-signature": sign_generic(SECRET, raw, now)}
    reply = hooks.post("/v1/channels/shop/webhook", content=raw, headers=headers)
    assert reply.status_code == 422, reply.text
    assert _rows(tmp_path, "jobs") == 0 and _rows(tmp_path, "conversations") == 0


def test_a_slack_event_of_an_odd_shape_is_ignored_not_an_error():
    event = {"type": "message", "user": "U1", "text": "hi", "channel": "D9", "subtype": ["x"]}
    raw, headers = _slack({"type": "event_callback", "event_id": "Ev3", "event": event})
    assert isinstance(read_webhook("sl", SLACK, SECRET, raw, headers, now=NOW, ids=IDS), Reply)
