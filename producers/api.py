"""The HTTP API (FastAPI): thin routes over the Intake and the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import InvalidInput, PublishError
from core.jobs import JobStatus, canonical_uuid
from core.settings import Settings
from persistence import views
from persistence.answer_cache import AnswerCache
from persistence.db import SessionFactory
from producers.intake import Intake
from producers.messages import MessageIn, parse_message
from producers.readiness import Readiness
from producers.schemas import Accepted, ConversationOut, JobOut, TurnOut

MAX_BODY_BYTES = 64 * 1024
# Threads for the blocking calls (store, broker). About the broker's producer pool (10): more
# threads only queue for a producer, and on few cores they fight over the GIL.
BLOCKING_THREADS = 10
T = TypeVar("T")


class ApiBackend(Protocol):
    """What the API needs of its process: settings, the intake, the store, the cache and a
    readiness probe (ops.stack.Stack is one)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def intake(self) -> Intake: ...
    @property
    def factory(self) -> SessionFactory: ...
    @property
    def cache(self) -> AnswerCache: ...
    def readiness(self) -> Readiness: ...


def create_app(stack: ApiBackend) -> FastAPI:
    """The API over one backend; routes hold no state of their own."""
    threads = _Threads(BLOCKING_THREADS)
    app = FastAPI(
        title="babelq", version="0.1.0", description="Multilingual customer-service chat.",
        lifespan=threads.lifespan,
    )  # fmt: skip
    app.add_middleware(_LimitBody)
    _add_message_routes(app, stack, threads)
    _add_health_routes(app, stack, threads)
    return app


class _Threads:
    """The API's own bounded thread pool for blocking calls (store, broker).

    Cheaper per call than Starlette's `run_in_threadpool` (anyio's 40 threads behind a capacity
    limiter), and bounded: under load, queued calls wait for a thread instead of 40 threads
    taking turns with the GIL.
    """

    def __init__(self, size: int) -> None:
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="babelq-api")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        yield
        self._executor.shutdown(wait=False)


class _LimitBody:
    """Refuse a request whose declared body is over MAX_BODY_BYTES (plain ASGI: no extra task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = next((value for name, value in scope["headers"] if name == b"content-length"), b"")
            if length.isdigit() and int(length) > MAX_BODY_BYTES:
                detail = {"detail": f"request body over {MAX_BODY_BYTES} bytes"}
                await JSONResponse(detail, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _message_body_doc() -> dict[str, Any]:
    """The OpenAPI request body of POST /v1/messages (parsed by hand, see _message_body)."""
    schema = MessageIn.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _message_body(request: Request, max_text_chars: int) -> MessageIn:
    """The body as a MessageIn under BABELQ_MAX_TEXT_CHARS (FastAPI's own body parsing cannot
    hand a setting to the validators); refused the way FastAPI refuses a body, with a 422."""
    try:
        return parse_message(await request.body(), max_text_chars)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc


def _add_message_routes(app: FastAPI, stack: ApiBackend, threads: _Threads) -> None:
    settings = stack.settings

    body_doc = _message_body_doc()

    @app.post("/v1/messages", status_code=202, response_model=Accepted | JobOut, openapi_extra=body_doc)
    async def post_message(
        request: Request,
        # The limit is a setting, so it sits in the default (evaluated here), not the annotation
        # (a string under `from __future__ import annotations`, resolved in module scope).
        wait: float = Query(0, ge=0, le=settings.max_wait_s, description="Seconds to wait for the answer."),
    ) -> Accepted | JSONResponse:
        message = await _message_body(request, settings.max_text_chars)
        try:
            submitted = await threads.run(stack.intake.submit, message)
        except PublishError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        job = submitted.job
        if submitted.cached:  # answered at once from the cache: no queue, no worker
            view = await threads.run(views.get_job, stack.factory, job.job_id)
            assert view is not None  # stored in the same call that found the answer
            return JSONResponse(JobOut.of(view).model_dump(mode="json"), status_code=200)
        if wait > 0:
            view = await _wait_for_final(stack, threads, job.job_id, wait)
            if view is not None and view.status.final:
                return JSONResponse(JobOut.of(view).model_dump(mode="json"), status_code=200)
        return Accepted(
            job_id=job.job_id, conversation_id=job.conversation_id, language=job.language,
            language_source=submitted.language_source, queue=job.queue, status=JobStatus.QUEUED,
        )  # fmt: skip

    @app.get("/v1/jobs/{job_id}", response_model=JobOut, responses={404: {"description": "Unknown job"}})
    async def get_job(job_id: str) -> JobOut:
        view = await threads.run(views.get_job, stack.factory, _uuid_or_404(job_id, "job"))
        if view is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        return JobOut.of(view)

    @app.get("/v1/conversations/{conversation_id}", response_model=ConversationOut)
    async def get_conversation(
        conversation_id: str,
        limit: Annotated[int, Query(ge=1, le=1000, description="Turns per page (the latest first).")] = 100,
        before: Annotated[int | None, Query(ge=1, description="`next_before` of the previous page.")] = None,
    ) -> ConversationOut:
        cid = _uuid_or_404(conversation_id, "conversation")
        page = await threads.run(views.get_turns_page, stack.factory, cid, limit, before)
        if page is None:
            raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
        turns, next_before = page
        out = [TurnOut.of(turn) for turn in turns]
        return ConversationOut(conversation_id=cid, turns=out, next_before=next_before)


def _uuid_or_404(value: str, what: str) -> str:
    try:
        return canonical_uuid(value)
    except InvalidInput as exc:
        raise HTTPException(status_code=404, detail=f"no {what} {value!r} (not a UUID)") from exc


async def _wait_for_final(
    stack: ApiBackend, threads: _Threads, job_id: str, wait_s: float
) -> views.JobView | None:
    """Poll the store until the job is final or the wait is over (the store is the truth)."""
    deadline = time.monotonic() + wait_s
    pause = 0.01
    while True:
        view = await threads.run(views.get_job, stack.factory, job_id)
        if view is None or view.status.final or time.monotonic() >= deadline:
            return view
        await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 1.5, 0.2)


def _add_health_routes(app: FastAPI, stack: ApiBackend, threads: _Threads) -> None:
    @app.get("/v1/cache")
    async def cache_stats() -> dict[str, object]:
        """The answer cache's backend, hit and miss counters and entries."""
        return dict((await threads.run(stack.cache.stats)).__dict__)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        state = await threads.run(stack.readiness)
        body = {
            "status": "ready" if state.ready else "not ready",
            "broker": state.broker,
            "store": state.store,
        }
        return JSONResponse(body, status_code=200 if state.ready else 503)
