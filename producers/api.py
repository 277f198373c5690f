"""The HTTP API (FastAPI): the app, its middleware and error answers, and one router per route
module (producers/*_routes.py and friends), each a thin adapter over the intake and the store."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producers import (
    health_routes,
    human_answers,
    job_events,
    message_routes,
    session_routes,
    web_page,
    webhook_routes,
)
from producers.api_auth import add_access_errors
from producers.api_context import ApiContext, install
from producers.security_headers import DATA_HEADERS, SecurityHeaders
from producers.stack import Stack
from producers.web_page import mount_web_files

log = logging.getLogger(__name__)
MIN_BODY_BYTES = 64 * 1024
# A character can take 12 bytes of JSON (an escaped surrogate pair, "\ud83d\ude00").
JSON_BYTES_PER_CHAR = 12
ROUTERS = (message_routes, job_events, human_answers, webhook_routes, session_routes, health_routes, web_page)


def create_app(stack: Stack, *, owns_stack: bool = False) -> FastAPI:
    """The API over one process's stack; the routes read it, and the API's own helpers, from
    `app.state` (producers/api_context.py). `owns_stack`: the app closes the stack when it stops
    (`babelq api`, where the app is the process); else whoever built the stack closes it."""
    context = ApiContext.of(stack)
    docs = stack.settings.docs_served
    app = FastAPI(
        title="babelq",
        version="0.1.0",
        description="Multilingual customer-service chat.",
        lifespan=_lifespan(context, stack if owns_stack else None),
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    install(app, context)
    app.add_middleware(_LimitBody, max_bytes=body_limit_bytes(stack.settings.max_text_chars))
    app.add_middleware(SecurityHeaders)  # the outermost: on every answer, a refusal's too
    _add_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    mount_web_files(app)
    app.openapi = partial(_openapi_with_limits, app.openapi, stack.settings.max_wait_s)  # type: ignore[method-assign]
    return app


def _openapi_with_limits(document_of: Callable[[], dict[str, Any]], max_wait_s: float) -> dict[str, Any]:
    """FastAPI's document (built once, kept by FastAPI), with this process's own wait limit as
    every `wait`'s maximum: the routes are declared once for any deployment."""
    document = document_of()
    for operation in (op for path in document["paths"].values() for op in path.values()):
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "wait":
                parameter["schema"]["maximum"] = max_wait_s
    return document


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(OperationalError, _store_unavailable)
    app.add_exception_handler(InterfaceError, _store_unavailable)
    add_access_errors(app)


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


def _lifespan(context: ApiContext, owned: Stack | None) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        context.start()
        yield
        context.close()
        if owned is not None:
            owned.close()

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
