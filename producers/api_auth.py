"""The API's side of access: reading the key from a request, and the answers for a refused one
(401 without a valid key, 403 posting as another channel, 429 over a rate limit)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from core.errors import ConversationNotFound, NotPermitted, RateLimited, Unauthenticated
from persistence.api_keys import Caller
from producers.access import Access

RunBlocking = Callable[..., Awaitable[Any]]
bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API key (`Authorization: Bearer bq_…`) or a visitor session (`Bearer bqv_…`).",
)
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key in `X-API-Key`.")


def caller_dependency(access: Access, run: RunBlocking) -> Callable[..., Awaitable[Caller | None]]:
    """A FastAPI dependency giving the request's caller (the key is checked off the event loop)."""

    async def caller(
        bearer: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
        header: str | None = Security(_header),
    ) -> Caller | None:
        key = bearer.credentials if bearer is not None else header
        if key is None:
            return access.caller(None)  # no I/O: None, or Unauthenticated where keys are required
        return await run(access.caller, key)  # type: ignore[no-any-return]

    return caller


def reader_dependency(
    access: Access, run: RunBlocking, caller_of: Callable[..., Awaitable[Caller | None]]
) -> Callable[..., Awaitable[Caller | None]]:
    """The caller of a read, a wait or a stream, once within its key's `reads` limit."""

    async def reader(caller: Caller | None = Depends(caller_of)) -> Caller | None:
        if caller is not None:
            await run(access.within_read_limit, caller)
        return caller

    return reader


def stream_owner(caller: Caller | None) -> str | None:
    """Whose cap a held connection counts against (None: an open request, the process's only)."""
    return f"key:{caller.key_id}" if caller is not None else None


def add_access_errors(app: FastAPI) -> None:
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(NotPermitted, _not_permitted)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(ConversationNotFound, _not_found)


async def _unauthenticated(_request: Request, exc: Exception) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="babelq"'}
    return JSONResponse({"detail": str(exc)}, status_code=401, headers=headers)


async def _not_permitted(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=403)


async def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    """Another's conversation is as unknown as one that does not exist."""
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _rate_limited(_request: Request, exc: Exception) -> JSONResponse:
    wait = exc.retry_after_s if isinstance(exc, RateLimited) else 1.0
    return JSONResponse(
        {"detail": str(exc)}, status_code=429, headers={"Retry-After": str(max(1, math.ceil(wait)))}
    )
