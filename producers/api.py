"""The HTTP API (FastAPI): thin routes over the Intake and the store."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import IdempotencyConflict, PublishError
from core.jobs import JobStatus
from core.settings import Settings
from persistence import idempotency, views
from persistence.answer_cache import AnswerCache
from persistence.answer_notices import AnswerNotices
from persistence.api_keys import Caller
from persistence.db import SessionFactory
from persistence.partial_answers import PartialAnswers
from producers.access import Access, conversation_readable, job_readable, require_scope
from producers.api_auth import add_access_errors, caller_dependency, reader_dependency, stream_owner
from producers.human_answers import add_human_routes
from producers.intake import Intake, Submitted
from producers.job_events import add_event_routes
from producers.messages import MessageIn, message_model
from producers.partial_feed import PartialFeed
from producers.readiness import Readiness
from producers.route_ids import uuid_or_404
from producers.schemas import Accepted, ConversationOut, JobOut, TurnOut
from producers.security_headers import DATA_HEADERS, SecurityHeaders
from producers.session_routes import add_session_routes
from producers.stream_slots import StreamSlots
from producers.waiters import AnswerWaiters
from producers.web_page import add_web_page
from producers.webhook_routes import AnswerPushes, add_webhook_routes
from producers.webhooks import ChatIds
from routing.table import RoutingTable

log = logging.getLogger(__name__)
MIN_BODY_BYTES = 64 * 1024
# A character can take 12 bytes of JSON (an escaped surrogate pair, "\ud83d\ude00").
JSON_BYTES_PER_CHAR = 12
# Threads for the blocking calls (store, broker). About the broker's producer pool (10): more
# threads only queue for a producer, and on few cores they fight over the GIL.
BLOCKING_THREADS = 10
T = TypeVar("T")
Route = Callable[..., Any]


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
    @property
    def notices(self) -> AnswerNotices: ...
    @property
    def table(self) -> RoutingTable: ...
    @property
    def partials(self) -> PartialAnswers: ...
    @property
    def registry(self) -> CollectorRegistry: ...
    @property
    def access(self) -> Access: ...
    @property
    def chat_ids(self) -> ChatIds: ...
    def request_delivery(self, job_id: str) -> None: ...
    def readiness(self) -> Readiness: ...


def create_app(stack: ApiBackend) -> FastAPI:
    """The API over one backend; routes hold no state of their own."""
    threads = _Threads(BLOCKING_THREADS)
    waiters = AnswerWaiters(stack.notices, partial(views.final_among, stack.factory))
    feed = PartialFeed(stack.partials)
    docs = stack.settings.docs_served
    app = FastAPI(
        title="babelq",
        version="0.1.0",
        description="Multilingual customer-service chat.",
        lifespan=_lifespan(threads, waiters, feed),
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(_LimitBody, max_bytes=body_limit_bytes(stack.settings.max_text_chars))
    app.add_middleware(SecurityHeaders)  # the outermost: on every answer, a refusal's too
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(OperationalError, _store_unavailable)
    app.add_exception_handler(InterfaceError, _store_unavailable)
    add_access_errors(app)
    caller = caller_dependency(stack.access, threads.run)
    reader = reader_dependency(stack.access, threads.run, caller)
    slots = StreamSlots(stack.settings.max_streams_per_caller, stack.settings.max_streams)
    _add_message_routes(app, stack, threads, waiters, _Callers(caller, reader, slots))
    _add_health_routes(app, stack, threads, reader)
    add_event_routes(
        app,
        stack.factory,
        stack.access,
        threads.run,
        waiters,
        feed,
        reader,
        stack.settings.job_deadline_s,
        stack.table,
        slots,
    )
    add_human_routes(
        app,
        stack.factory,
        stack.access,
        threads.run,
        stack.notices,
        stack.table,
        stack.request_delivery,
        caller,
        reader,
    )
    pushes = AnswerPushes(stack.factory, stack.request_delivery)
    add_webhook_routes(
        app, stack.intake, stack.access, threads.run, stack.settings.max_text_chars, pushes, stack.chat_ids
    )
    add_session_routes(app, stack.access, threads.run, stack.settings.web_channel)
    add_web_page(app)
    return app


class _AsciiJSON(JSONResponse):
    """JSON with every non-ASCII character escaped: an error may quote input that has no UTF-8
    form (a lone surrogate), which the default rendering cannot encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, in the same shape, that renders whatever the input was (a body that is
    not JSON arrives as bytes that need not be UTF-8)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    readable = [
        {**error, "input": error["input"].decode("utf-8", "replace")}
        if isinstance(error.get("input"), bytes)
        else error
        for error in errors
    ]
    return _AsciiJSON({"detail": jsonable_encoder(readable)}, status_code=422)


async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    """A bug's 500: logged with its traceback here, one line to the caller, and the same
    security headers as every other answer (Starlette's own 500 is sent outside them)."""
    log.error("unhandled error: %r", exc, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500, headers=dict(DATA_HEADERS))


async def _store_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """The store did not answer (down, restarting, connections cut): 503, and try again soon.
    Nothing half-written stays: each write is one transaction."""
    log.warning("the store is unavailable: %s", exc)
    return _AsciiJSON(
        {"detail": f"the store is unavailable: {type(exc).__name__}"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


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

    def close(self) -> None:
        self._executor.shutdown(wait=False)


def _lifespan(threads: _Threads, waiters: AnswerWaiters, feed: PartialFeed) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        waiters.start()
        feed.start()
        yield
        waiters.close()
        threads.close()

    return lifespan


def body_limit_bytes(max_text_chars: int) -> int:
    """The largest request body taken: 64 KiB, or room for a longest message however it is encoded."""
    return max(MIN_BODY_BYTES, JSON_BYTES_PER_CHAR * max_text_chars + 4096)


class _LimitBody:
    """Refuse a request whose body is over `max_bytes` (plain ASGI: no extra task): at once when
    it says so in Content-Length, else (a chunked body) as soon as the bytes read pass it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((value for name, value in scope["headers"] if name == b"content-length"), b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await JSONResponse(self._detail(), status_code=413)(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _detail(self) -> dict[str, str]:
        return {"detail": f"request body over {self.max_bytes} bytes"}

    def _counting(self, receive: Receive) -> Receive:
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_bytes:  # FastAPI passes an HTTPException from reading the body on
                    raise HTTPException(status_code=413, detail=self._detail()["detail"])
            return message

        return counted


def _body_model(route: Route, name: str, model: type[BaseModel]) -> Route:
    """Give a route's body parameter a model made at start-up (MessageIn under this process's
    text limit). FastAPI takes a body's model from the route's annotations, and a string
    annotation (`from __future__ import annotations`) can only name a module-level class."""
    route.__annotations__[name] = model
    return route


@dataclass(frozen=True)
class _Callers:
    """Who is asking: the caller of a post (`of`), of a read (`reader`: within its reads limit),
    and the caps on the connections a caller holds open."""

    of: Route
    reader: Route
    slots: StreamSlots

    def holding(self, caller: Caller | None, wait: float) -> AbstractContextManager[None]:
        """A held connection for a request that waits; nothing to hold for one that does not."""
        return self.slots.holding(stream_owner(caller)) if wait > 0 else nullcontext()


def _add_message_routes(
    app: FastAPI, stack: ApiBackend, threads: _Threads, waiters: AnswerWaiters, callers: _Callers
) -> None:
    _add_post_message(app, stack, threads, waiters, callers)
    _add_job_route(app, stack, threads, waiters, callers)
    _add_conversation_route(app, stack, threads, callers.reader)


def _add_post_message(
    app: FastAPI, stack: ApiBackend, threads: _Threads, waiters: AnswerWaiters, callers: _Callers
) -> None:
    settings = stack.settings

    async def post_message(
        message: MessageIn,  # validated as message_model(BABELQ_MAX_TEXT_CHARS), see _body_model
        # The limit is a setting, so it sits in the default (evaluated here), not the annotation.
        wait: float = Query(0, ge=0, le=settings.max_wait_s, description="Seconds to wait for the answer."),
        idempotency_key: str | None = Header(
            None,
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="The same key and body again within 24 h: the same job (another body: 409).",
        ),
        caller: Caller | None = Depends(callers.of),
    ) -> Accepted | JSONResponse:
        # A waiting request holds its connection: past the cap it is refused before anything is stored.
        with callers.holding(caller, wait):
            submitted = await _take(stack, threads, message, idempotency_key, caller)
            if isinstance(submitted, str):  # a retry: the job its key already names
                return await _replay(stack, threads, waiters, submitted, wait)
            return await _reply(stack, threads, waiters, submitted, wait)

    route = _body_model(post_message, "message", message_model(settings.max_text_chars))
    app.post("/v1/messages", status_code=202, response_model=Accepted | JobOut)(route)


async def _take(
    stack: ApiBackend,
    threads: _Threads,
    message: MessageIn,
    idempotency_key: str | None,
    caller: Caller | None,
) -> Submitted | str:
    """The message admitted for its caller (channel, limits) and submitted once."""
    if caller is not None:  # (no thread hop for an open request: it is not limited)
        message = await threads.run(stack.access.admit, caller, message)
    # A client's key within its channel (and a visitor's within its own session's): two
    # callers' equal keys are two keys, and one learns nothing of another's jobs by them.
    visitor = caller.visitor if caller is not None else None
    namespace = "api" if visitor is None else f"visitor-{visitor}"
    key = idempotency.scoped_key(namespace, message.channel, idempotency_key) if idempotency_key else None
    return await _submit_or_refuse(stack, threads, message, key, visitor)


async def _submit_or_refuse(
    stack: ApiBackend, threads: _Threads, message: MessageIn, key: str | None, visitor: str | None
) -> Submitted | str:
    try:
        return await _submit(stack, threads, message, key, visitor)
    except PublishError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc
    except IdempotencyConflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc


async def _reply(
    stack: ApiBackend, threads: _Threads, waiters: AnswerWaiters, submitted: Submitted, wait: float
) -> Accepted | JSONResponse:
    """The answer if the job has ended (from the cache, or within the wait), else the 202."""
    job = submitted.job
    if submitted.cached:  # answered at once from the cache: no queue, no worker
        view = await threads.run(views.get_job, stack.factory, job.job_id)
        assert view is not None  # stored in the same call that found the answer
        return _final(view, stack.table)
    if wait > 0:
        ended = await _wait_for_final(stack, threads, waiters, job.job_id, wait)
        if ended is not None and ended.status.final:
            return _final(ended, stack.table)
    return Accepted(
        job_id=job.job_id,
        conversation_id=job.conversation_id,
        language=job.language,
        language_source=submitted.language_source,
        queue=job.queue,
        status=JobStatus.QUEUED,
        handling=submitted.handling,
    )


def _add_job_route(
    app: FastAPI, stack: ApiBackend, threads: _Threads, waiters: AnswerWaiters, callers: _Callers
) -> None:
    @app.get("/v1/jobs/{job_id}", response_model=JobOut, responses={404: {"description": "Unknown job"}})
    async def get_job(
        job_id: str,
        wait: float = Query(
            0, ge=0, le=stack.settings.max_wait_s, description="Seconds to wait for it to end."
        ),
        caller: Caller | None = Depends(callers.reader),
    ) -> JobOut:
        job_id = uuid_or_404(job_id, "job")
        view = await threads.run(views.get_job, stack.factory, job_id)
        # Another channel's job is as unknown as a job that does not exist: its id tells nothing.
        if view is None or not await threads.run(job_readable, stack.factory, caller, view):
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        if wait > 0 and not view.status.final:
            with callers.holding(caller, wait):
                view = await _wait_for_final(stack, threads, waiters, job_id, wait) or view
        return JobOut.of(view, stack.table)


def _add_conversation_route(app: FastAPI, stack: ApiBackend, threads: _Threads, caller_of: Route) -> None:
    @app.get("/v1/conversations/{conversation_id}", response_model=ConversationOut)
    async def get_conversation(
        conversation_id: str,
        limit: Annotated[int, Query(ge=1, le=1000, description="Turns per page (the latest first).")] = 100,
        before: Annotated[
            int | None, Query(ge=1, le=2**63 - 1, description="`next_before` of the previous page.")
        ] = None,
        caller: Caller | None = Depends(caller_of),
    ) -> ConversationOut:
        cid = uuid_or_404(conversation_id, "conversation")
        if caller is not None and not await threads.run(conversation_readable, stack.factory, caller, cid):
            raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
        page = await threads.run(views.get_turns_page, stack.factory, cid, limit, before)
        if page is None:
            raise HTTPException(status_code=404, detail=f"no conversation {conversation_id}")
        turns, next_before = page
        out = [TurnOut.of(turn) for turn in turns]
        return ConversationOut(conversation_id=cid, turns=out, next_before=next_before)


async def _submit(
    stack: ApiBackend, threads: _Threads, message: MessageIn, key: str | None, visitor: str | None
) -> Submitted | str:
    """The intake's submit (as a visitor session's, when one posts), under the request's
    idempotency key when it has one."""
    if key is None:
        return await threads.run(stack.intake.submit, message, None, visitor)
    return await threads.run(stack.intake.submit_once, message, key, visitor)


async def _replay(
    stack: ApiBackend, threads: _Threads, waiters: AnswerWaiters, job_id: str, wait: float
) -> Accepted | JSONResponse:
    """The answer a retried request gets: its job as it is now (waiting as asked)."""
    if wait > 0:
        view = await _wait_for_final(stack, threads, waiters, job_id, wait)
    else:
        view = await threads.run(views.get_job, stack.factory, job_id)
    if view is None:  # the first request with this key is still being taken
        raise HTTPException(
            status_code=409, detail="a request with this Idempotency-Key is in progress; retry"
        )
    if view.status.final:
        return _final(view, stack.table)
    return Accepted(
        job_id=view.job_id,
        conversation_id=view.conversation_id,
        language=view.language,
        language_source=view.language_source,
        queue=view.queue,
        status=view.status,
        handling=stack.table.handling(view.language, view.channel).kind,
    )


def _final(view: views.JobView, table: RoutingTable) -> JSONResponse:
    """200: the job has ended; its answer (or why not) comes with it."""
    return JSONResponse(JobOut.of(view, table).model_dump(mode="json"), status_code=200)


async def _wait_for_final(
    stack: ApiBackend, threads: _Threads, waiters: AnswerWaiters, job_id: str, wait_s: float
) -> views.JobView | None:
    """Read the store until the job is final or the wait is over (the store is the truth), each
    time its answer is announced; with no notices to hear, poll it (10 ms, growing to 200 ms)."""
    deadline = time.monotonic() + wait_s
    pause = 0.01
    with waiters.watch(job_id) as announced:
        while True:
            view = await threads.run(views.get_job, stack.factory, job_id)
            left = deadline - time.monotonic()
            if view is None or view.status.final or left <= 0:
                return view
            if waiters.live:
                await waiters.until_announced(announced, left)
            else:
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 1.5, 0.2)


def _add_health_routes(app: FastAPI, stack: ApiBackend, threads: _Threads, caller_of: Route) -> None:
    @app.get("/v1/cache")
    async def cache_stats(caller: Caller | None = Depends(caller_of)) -> dict[str, object]:
        """The answer cache's backend, hit and miss counters and entries (admin keys only)."""
        require_scope(caller, "admin")
        return dict((await threads.run(stack.cache.stats)).__dict__)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format: this process's counters and the queues' depths."""
        body = await threads.run(generate_latest, stack.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

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
