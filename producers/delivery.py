"""Answers out: one push of a finished job's answer to the channel it came from.

generic: POST the outcome as JSON to the channel's URL, signed like a generic webhook
(`X-Babelq-Timestamp`, `X-Babelq-Signature`), `X-Babelq-Delivery: <job id>` to deduplicate;
telegram: the Bot API's `sendMessage` (`<url>/bot<token>/sendMessage`); slack: `chat.postMessage`
with the bot token. Which failures are worth another try (network, 5xx, 429, the platforms'
`ok: false` for rate limits) and which are not (another 4xx: the same request fails again) is
decided here; the Celery task (producers/delivery_task.py) only schedules the tries.
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx

from core.channels import Delivery
from core.errors import BabelqError
from persistence.views import JobView
from producers.webhooks import sign_generic

BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 600.0


class PushFailed(BabelqError):
    """A push that did not land; `retry_after_s` when the receiver asked for a wait."""

    def __init__(self, reason: str, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


def backoff_s(attempt: int, retry_after_s: float | None = None) -> float:
    """Seconds before try `attempt + 1`: exponential with full jitter, or what the receiver asked."""
    if retry_after_s is not None:
        return min(BACKOFF_CAP_S, retry_after_s)
    return random.uniform(BACKOFF_BASE_S / 2, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


def pushable(view: JobView, delivery: Delivery) -> bool:
    """Generic receivers get every outcome; a chat platform only answers (not failures)."""
    return delivery.kind == "generic" or (view.status.value == "done" and bool(view.answer))


def request_for(view: JobView, target: str, delivery: Delivery, now: int) -> httpx.Request:
    """The HTTP request that pushes `view`'s outcome to `target` (a chat id, a Slack channel)."""
    secret = delivery.secret()
    timeout = {"timeout": httpx.Timeout(delivery.timeout_s).as_dict()}
    if delivery.kind == "telegram":
        body = _json({"chat_id": target, "text": view.answer})
        return httpx.Request(
            "POST",
            f"{delivery.url.rstrip('/')}/bot{secret}/sendMessage",
            content=body,
            headers={"Content-Type": "application/json"},
            extensions=timeout,
        )
    if delivery.kind == "slack":
        body = _json({"channel": target, "text": view.answer})
        headers = {"Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {secret}"}
        return httpx.Request("POST", delivery.url, content=body, headers=headers, extensions=timeout)
    body = _json(_outcome(view, target))
    headers = {
        "Content-Type": "application/json",
        "X-Babelq-Delivery": view.job_id,
        "X-Babelq-Timestamp": str(now),
        "X-Babelq-Signature": sign_generic(secret, body, now),
    }
    return httpx.Request("POST", delivery.url, content=body, headers=headers, extensions=timeout)


def _outcome(view: JobView, target: str) -> dict[str, Any]:
    return {
        "job_id": view.job_id,
        "conversation_id": view.conversation_id,
        "channel": view.channel,
        "chat": target,
        "user": view.user_ref,
        "status": view.status.value,
        "answer": view.answer,
        "language": view.language,
        "error": view.error,
    }


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def push(http: httpx.Client, request: httpx.Request, kind: str) -> None:
    """Send one push; PushFailed unless the receiver took it."""
    try:
        response = http.send(request)
    except httpx.HTTPError as exc:
        raise PushFailed(f"{type(exc).__name__}: {exc}", retryable=True) from exc
    retry_after = _retry_after(response)
    if response.status_code == 429 or response.status_code >= 500:
        raise PushFailed(f"HTTP {response.status_code}", retryable=True, retry_after_s=retry_after)
    if not response.is_success:
        raise PushFailed(f"HTTP {response.status_code}: {response.text[:200]}", retryable=False)
    if kind in ("telegram", "slack"):
        _platform_ok(response, retry_after)


def _platform_ok(response: httpx.Response, retry_after: float | None) -> None:
    """Telegram and Slack answer some failures with 200 and `"ok": false`."""
    try:
        body = response.json()
    except ValueError as exc:
        raise PushFailed("the platform's answer is not JSON", retryable=True) from exc
    if body.get("ok") is True:
        return
    error = str(body.get("error") or body.get("description") or "ok: false")
    limited = "rate" in error.lower() or "too many" in error.lower()
    asked = (body.get("parameters") or {}).get("retry_after")
    raise PushFailed(error, retryable=limited, retry_after_s=float(asked) if asked else retry_after)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None
