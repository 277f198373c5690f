"""`POST /v1/messages`, `GET /v1/jobs/{id}` and `GET /v1/conversations/{id}`: a message in, a job
out, its answer waited for when asked; thin routes over the intake and the store."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.errors import IdempotencyConflict, PublishError
from core.jobs import JobStatus
from persistence import idempotency, views
from persistence.api_keys import Caller
from producers.access import conversation_readable, job_readable
from producers.api_auth import CallerOf, ReaderOf, stream_owner
from producers.api_context import Api, ApiContext
from producers.intake import Submitted
from producers.messages import MessageIn, within_text_limit
from producers.route_ids import uuid_or_404
from producers.schemas import Accepted, ConversationOut, JobOut, TurnOut

router = APIRouter()


def _refused(
    location: tuple[str, str], kind: str, message: str, value: Any, ctx: dict[str, Any]
) -> RequestValidationError:
    """A 422 in the shape FastAPI gives its own checks."""
    return RequestValidationError(
        [{"type": kind, "loc": location, "msg": message, "input": value, "ctx": ctx}]
    )


async def limited_message(message: MessageIn, api: Api) -> MessageIn:
    """The body, within this process's text limit (BABELQ_MAX_TEXT_CHARS): the limit is a
    setting, and FastAPI validates a body with its model alone."""
    try:
        within_text_limit(message.text, api.settings.max_text_chars)
    except ValueError as exc:
        raise _refused(
            ("body", "text"), "value_error", f"Value error, {exc}", message.text, {"error": str(exc)}
        ) from exc
    return message


async def wait_seconds(
    api: Api,
    wait: Annotated[
        float,
        Query(ge=0, description="Seconds to wait for the job to end (at most BABELQ_MAX_WAIT_S)."),
    ] = 0,
) -> float:
    """How long the request waits, within this process's BABELQ_MAX_WAIT_S."""
    limit = api.settings.max_wait_s
    if wait > limit:
        raise _refused(
            ("query", "wait"),
            "less_than_equal",
            f"Input should be less than or equal to {limit:g}",
            wait,
            {"le": limit},
        )
    return wait


Message = Annotated[MessageIn, Depends(limited_message)]
Wait = Annotated[float, Depends(wait_seconds)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="The same key and body again within 24 h: the same job (another body: 409).",
    ),
]


def holding(api: ApiContext, caller: Caller | None, wait: float) -> AbstractContextManager[None]:
    """A held connection for a request that waits (within the caps); nothing for one that does not."""
    return api.slots.holding(stream_owner(caller)) if wait > 0 else nullcontext()


@router.post("/v1/messages", status_code=202, response_model=Accepted | JobOut)
async def post_message(
    api: Api, caller: CallerOf, message: Message, wait: Wait, idempotency_key: IdempotencyKey = None
) -> Accepted | JSONResponse:
    # (the caller first: a refused key is 401, 403 or 429 before the body's limits are read)
    # A waiting request holds its connection: past the cap it is refused before anything is stored.
    with holding(api, caller, wait):
        submitted = await _take(api, message, idempotency_key, caller)
        if isinstance(submitted, str):  # a retry: the job its key already names
            return await _replay(api, submitted, wait)
        return await _reply(api, submitted, wait)


@router.get("/v1/jobs/{job_id}", response_model=JobOut, responses={404: {"description": "Unknown job"}})
async def get_job(api: Api, job_id: str, caller: ReaderOf, wait: Wait) -> JobOut:
    job_id = uuid_or_404(job_id, "job")
    view = await api.run(views.get_job, api.stack.factory, job_id)
    # Another channel's job is as unknown as a job that does not exist: its id tells nothing.
    if view is None or not await api.run(job_readable, api.stack.factory, caller, view):
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    if wait > 0 and not view.status.final:
        with holding(api, caller, wait):
            view = await wait_for_final(api, job_id, wait) or view
    return JobOut.of(view, api.stack.table)


@router.get("/v1/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(
    api: Api,
    conversation_id: str,
    caller: ReaderOf,
    limit: Annotated[int, Query(ge=1, le=1000, description="Turns per page (the latest first).")] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="`next_before` of the previous page.")
    ] = None,
) -> ConversationOut:
    cid = uuid_or_404(conversation_id, "conversation")
    factory = api.stack.factory
    if caller is not None and not await api.run(conversation_readable, factory, caller, cid):
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    page = await api.run(views.get_turns_page, factory, cid, limit, before)
    if page is None:
        raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
    turns, next_before = page
    return ConversationOut(conversation_id=cid, turns=[TurnOut.of(t) for t in turns], next_before=next_before)


async def _take(
    api: ApiContext, message: MessageIn, idempotency_key: str | None, caller: Caller | None
) -> Submitted | str:
    """The message admitted for its caller (channel, limits) and submitted once."""
    if caller is not None:  # (no thread hop for an open request: it is not limited)
        message = await api.run(api.stack.access.admit, caller, message)
    # A client's key within its channel (and a visitor's within its own session's): two
    # callers' equal keys are two keys, and one learns nothing of another's jobs by them.
    visitor = caller.visitor if caller is not None else None
    namespace = "api" if visitor is None else f"visitor-{visitor}"
    key = idempotency.scoped_key(namespace, message.channel, idempotency_key) if idempotency_key else None
    try:
        return await _submit(api, message, key, visitor)
    except PublishError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc
    except IdempotencyConflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc


async def _submit(
    api: ApiContext, message: MessageIn, key: str | None, visitor: str | None
) -> Submitted | str:
    """The intake's submit (as a visitor session's, when one posts), under the request's
    idempotency key when it has one."""
    intake = api.stack.intake
    if key is None:
        return await api.run(intake.submit, message, None, visitor)
    return await api.run(intake.submit_once, message, key, visitor)


async def _reply(api: ApiContext, submitted: Submitted, wait: float) -> Accepted | JSONResponse:
    """The answer if the job has ended (from the cache, or within the wait), else the 202."""
    job = submitted.job
    if submitted.cached:  # answered at once from the cache: no queue, no worker
        view = await api.run(views.get_job, api.stack.factory, job.job_id)
        assert view is not None  # stored in the same call that found the answer
        return _final(api, view)
    if wait > 0:
        ended = await wait_for_final(api, job.job_id, wait)
        if ended is not None and ended.status.final:
            return _final(api, ended)
    return Accepted(
        job_id=job.job_id,
        conversation_id=job.conversation_id,
        language=job.language,
        language_source=submitted.language_source,
        queue=job.queue,
        status=JobStatus.QUEUED,
        handling=submitted.handling,
    )


async def _replay(api: ApiContext, job_id: str, wait: float) -> Accepted | JSONResponse:
    """The answer a retried request gets: its job as it is now (waiting as asked)."""
    if wait > 0:
        view = await wait_for_final(api, job_id, wait)
    else:
        view = await api.run(views.get_job, api.stack.factory, job_id)
    if view is None:  # the first request with this key is still being taken
        raise HTTPException(
            status_code=409, detail="a request with this Idempotency-Key is in progress; retry"
        )
    if view.status.final:
        return _final(api, view)
    return Accepted(
        job_id=view.job_id,
        conversation_id=view.conversation_id,
        language=view.language,
        language_source=view.language_source,
        queue=view.queue,
        status=view.status,
        handling=api.stack.table.handling(view.language, view.channel).kind,
    )


def _final(api: ApiContext, view: views.JobView) -> JSONResponse:
    """200: the job has ended; its answer (or why not) comes with it."""
    return JSONResponse(JobOut.of(view, api.stack.table).model_dump(mode="json"), status_code=200)


async def wait_for_final(api: ApiContext, job_id: str, wait_s: float) -> views.JobView | None:
    """Read the store until the job is final or the wait is over (the store is the truth), each
    time its answer is announced; with no notices to hear, poll it (10 ms, growing to 200 ms)."""
    deadline = time.monotonic() + wait_s
    pause = 0.01
    waiters = api.waiters
    with waiters.watch(job_id) as announced:
        while True:
            view = await api.run(views.get_job, api.stack.factory, job_id)
            left = deadline - time.monotonic()
            if view is None or view.status.final or left <= 0:
                return view
            if waiters.live:
                await waiters.until_announced(announced, left)
            else:
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 1.5, 0.2)
