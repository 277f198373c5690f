"""Channels end to end on the embedded stack (`babelq run`, tiny model): a webhook's message is
answered and the answer pushed back to the channel's endpoint (a local HTTP server), through the
retries the endpoint's failures ask for; a push that never lands ends `dead`."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from producers.webhooks import ChatIds, sign_generic, sign_slack
from tests.support.processes import babelq_env, babelq_process, wait_until
from tests.support.receiver import Receiver, receiver
from tests.support.services import free_port

pytestmark = pytest.mark.integration
SECRET = "hook-secret"
BOT_TOKEN = "123:bot-token"
DEPLOYMENT_KEY = "this deployment's key, 32 characters or more"

CHANNELS = """
channels:
  shop:
    webhook: {{kind: generic, secret_env: T_SHOP}}
    delivery: {{kind: generic, url: "{shop}/answers", secret_env: T_SHOP}}
  tg:
    webhook: {{kind: telegram, secret_env: T_TG_HOOK}}
    delivery: {{kind: telegram, url: "{tg}", secret_env: T_TG_BOT}}
  sl:
    webhook: {{kind: slack, secret_env: T_SHOP}}
    delivery: {{kind: slack, url: "{sl}/api/chat.postMessage", secret_env: T_TG_BOT}}
  broken:
    webhook: {{kind: generic, secret_env: T_SHOP}}
    delivery: {{kind: generic, url: "{broken}/x", secret_env: T_SHOP, max_attempts: 2}}
"""


@pytest.fixture(scope="module")
def stack(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    home = tmp_path_factory.mktemp("channels")
    ok = (200, {"ok": True})
    with (
        receiver([(500, {}), (503, {}), (200, {"received": True})]) as shop,
        receiver([ok]) as tg,
        receiver([ok]) as sl,
        receiver([(500, {})]) as broken,
    ):
        path = home / "channels.yaml"
        path.write_text(CHANNELS.format(shop=shop.url, tg=tg.url, sl=sl.url, broken=broken.url))
        port = free_port()
        env = babelq_env(
            model=str(tiny_model_dir),
            max_new_tokens="8",
            var_dir=str(home / "var"),
            api_port=str(port),
            channels_file=str(path),
        )
        env.update(
            T_SHOP=SECRET, T_TG_HOOK="tg-hook-token", T_TG_BOT=BOT_TOKEN, BABELQ_SECRET_KEY=DEPLOYMENT_KEY
        )
        with babelq_process(["run"], env, home / "run.log", ready_marker="ready.", timeout=120):
            yield {
                "url": f"http://127.0.0.1:{port}",
                "db": home / "var" / "babelq.db",
                "log": home / "run.log",
                "shop": shop,
                "tg": tg,
                "sl": sl,
                "broken": broken,
            }


def _generic_post(url: str, channel: str, body: dict) -> httpx.Response:
    raw = json.dumps(body).encode()
    now = int(time.time())
    headers = {"X-Babelq-Timestamp": str(now), "X-Babelq-Signature": sign_generic(SECRET, raw, now)}
    return httpx.post(f"{url}/v1/channels/{channel}/webhook", content=raw, headers=headers, timeout=30)


def _delivery(db: Path, job_id: str) -> tuple[str, int, str | None] | None:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "select status, attempts, last_error from deliveries where job_id = ?", (job_id,)
        ).fetchone()


def _await(stack: dict, target: Receiver, count: int) -> None:
    wait_until(lambda: len(target.requests) >= count, 60, f"{count} pushes", stack["log"])


def test_a_generic_answer_is_pushed_signed_after_the_endpoint_fails_twice(stack):
    response = _generic_post(
        stack["url"], "shop", {"text": "¿Dónde está mi pedido?", "user": "ana", "event_id": "e1"}
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    _await(stack, stack["shop"], 3)
    last = stack["shop"].requests[2]
    assert last.path == "/answers" and last.headers["x-babelq-delivery"] == job_id
    stamp = int(last.headers["x-babelq-timestamp"])
    assert last.headers["x-babelq-signature"] == sign_generic(SECRET, last.body, stamp)
    body = last.json()
    assert (body["job_id"], body["status"], body["chat"], body["user"]) == (job_id, "done", "ana", "ana")
    assert body["answer"]
    wait_until(lambda: (_delivery(stack["db"], job_id) or ("",))[0] == "delivered", 10, "delivered")
    assert _delivery(stack["db"], job_id)[:2] == ("delivered", 3)


def test_a_telegram_message_is_answered_with_send_message(stack):
    update = {
        "update_id": 91,
        "message": {
            "message_id": 1,
            "from": {"id": 7, "is_bot": False},
            "chat": {"id": 5005},
            "text": "Hallo, wo ist mein Paket?",
        },
    }
    response = httpx.post(
        f"{stack['url']}/v1/channels/tg/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": "tg-hook-token"},
        timeout=30,
    )
    assert response.status_code == 200 and response.json()["ok"]
    # The chat's conversation, keyed with the deployment's secret: nobody without it knows the id.
    assert response.json()["conversation_id"] == ChatIds(DEPLOYMENT_KEY.encode()).conversation("tg", "5005")
    _await(stack, stack["tg"], 1)
    sent = stack["tg"].requests[0]
    assert sent.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert sent.json()["chat_id"] == "5005" and sent.json()["text"]


def test_a_slack_message_is_answered_with_chat_post_message(stack):
    body = {
        "type": "event_callback",
        "event_id": "Ev9",
        "event": {"type": "message", "user": "U1", "text": "Bonjour, où est ma commande ?", "channel": "D42"},
    }
    raw, now = json.dumps(body).encode(), int(time.time())
    headers = {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": sign_slack(SECRET, raw, now)}
    first = httpx.post(f"{stack['url']}/v1/channels/sl/webhook", content=raw, headers=headers, timeout=30)
    retry = httpx.post(
        f"{stack['url']}/v1/channels/sl/webhook",
        content=raw,
        headers={**headers, "X-Slack-Retry-Num": "1"},
        timeout=30,
    )
    assert first.status_code == 200 and retry.json()["duplicate"] is True
    _await(stack, stack["sl"], 1)
    sent = stack["sl"].requests[0]
    assert sent.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert sent.json()["channel"] == "D42" and sent.json()["text"]
    time.sleep(1)
    assert len(stack["sl"].requests) == 1  # the retried event was not answered twice


def test_a_push_that_never_lands_ends_dead(stack):
    response = _generic_post(stack["url"], "broken", {"text": "Where is my parcel?", "user": "bo"})
    job_id = response.json()["job_id"]
    _await(stack, stack["broken"], 2)
    wait_until(lambda: (_delivery(stack["db"], job_id) or ("",))[0] == "dead", 15, "dead", stack["log"])
    status, attempts, error = _delivery(stack["db"], job_id)
    assert (status, attempts) == ("dead", 2) and "500" in (error or "")
    time.sleep(1)
    assert len(stack["broken"].requests) == 2  # no try after giving up
