"""`POST /v1/channels/{name}/webhook`: the thin adapter from a provider's webhook to the intake
(producers/webhooks.py checks and reads it). Refused before anything is stored: an unknown
channel (404), a bad signature or stale timestamp (401), a body that is no message (422)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from core.errors import BadSignature, ConfigurationError, IdempotencyConflict, InvalidInput, PublishError
from persistence import deliveries, idempotency, views
from persistence.db import SessionFactory
from producers.api_context import Api, ApiContext
from producers.intake import Submitted
from producers.messages import read_message
from producers.webhooks import ChatIds, Incoming, Reply, read_webhook, replay_key
from routing.language_codes import normalize_language_code

router = APIRouter()


@router.post(
    "/v1/channels/{name}/webhook",
    responses={
        401: {"description": "Bad signature, token or stale timestamp"},
        404: {"description": "No webhook for this channel"},
        422: {"description": "Not a message"},
    },
)
async def channel_webhook(api: Api, name: str, request: Request) -> JSONResponse:
    """A webhook from a channel configured in BABELQ_CHANNELS_FILE (generic HMAC, Telegram
    or Slack); its message becomes a job of that channel."""
    stack = api.stack
    hook = stack.access.channels.channels.get(name)
    if hook is None or hook.webhook is None:
        raise HTTPException(status_code=404, detail=f"no webhook for channel {name!r}")
    incoming = _read(name, hook.webhook, await request.body(), request, stack.chat_ids)
    if isinstance(incoming, Reply):
        return JSONResponse(incoming.body)
    await api.run(stack.access.within_channel_limit, name)
    await api.run(stack.access.within_user_limit, name, incoming.user_ref)
    event = incoming.event_key or replay_key(request.headers)
    submitted = await api.run(_submit, api, name, incoming, event)
    if isinstance(submitted, str):  # the provider sent this event before
        return JSONResponse({"ok": True, "job_id": submitted, "duplicate": True})
    if hook.delivery is not None:
        pushes = AnswerPushes(stack.factory, stack.request_delivery)
        await api.run(pushes.expect, submitted.job.job_id, name, incoming.reply_to or incoming.user_ref)
    status = 202 if hook.webhook.kind == "generic" else 200  # bot platforms want a plain 200
    return JSONResponse(_accepted(submitted), status_code=status)


def _accepted(submitted: Submitted) -> dict[str, object]:
    job = submitted.job
    return {
        "ok": True,
        "job_id": job.job_id,
        "conversation_id": job.conversation_id,
        "language": job.language,
        "queue": job.queue,
    }


class AnswerPushes:
    """The answers of a delivering channel's webhook jobs are pushed back to its chat: the
    delivery is recorded, and asked for here if the job has ended already (an answer from the
    cache, or a worker quicker than this request); otherwise the worker that stores the answer
    asks for it."""

    def __init__(self, factory: SessionFactory, request: Callable[[str], None]) -> None:
        self._factory = factory
        self._request = request

    def expect(self, job_id: str, channel: str, target: str) -> None:
        deliveries.record(self._factory, job_id, channel, target)
        view = views.get_job(self._factory, job_id)
        if view is not None and view.status.final:
            self._request(job_id)


def _read(name: str, hook: Any, body: bytes, request: Request, ids: ChatIds) -> Incoming | Reply:
    try:
        secret = hook.secret()
        return read_webhook(name, hook, secret, body, request.headers, now=time.time(), ids=ids)
    except ConfigurationError as exc:  # the operator's mistake, not the sender's
        raise HTTPException(status_code=503, detail=str(exc)) from exc
    except BadSignature as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from exc
    except InvalidInput as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


def _submit(api: ApiContext, name: str, incoming: Incoming, event: str) -> Submitted | str:
    """The job of a webhook's event: its provider's retries and a replayed request are the same job."""
    fields = {
        "text": incoming.text,
        "conversation_id": incoming.conversation_id,
        "channel": name,
        "user_ref": incoming.user_ref[:255],
        "language": incoming.language,
        "locale": _locale(incoming.locale),
    }
    try:
        message = read_message(fields, api.settings.max_text_chars)
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=_first_error(exc)) from exc
    try:
        return api.stack.intake.submit_once(message, idempotency.scoped_key("webhook", name, event))
    except PublishError as exc:
        raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": "1"}) from exc
    except IdempotencyConflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc


def _locale(value: str | None) -> str | None:
    """A provider's locale if it is a language tag; else none (it is a hint, not the message's
    own field: a provider's odd value must not refuse the customer's message)."""
    try:
        return normalize_language_code(value) if value else None
    except InvalidInput:
        return None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
