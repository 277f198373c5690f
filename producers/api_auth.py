"""The API's side of access: reading the key from a request, and the answers for a refused one
(401 without a valid key, 403 posting as another channel, 429 over a rate limit)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from core.errors import ConversationNotFound, NotPermitted, RateLimited, Unauthenticated
from persistence.api_keys import Caller
from producers.api_context import Api

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API key (`Authorization: Bearer bq_…`) or a visitor session (`Bearer bqv_…`).",
)
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key in `X-API-Key`.")


async def request_caller(
    api: Api,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    header: Annotated[str | None, Security(_header)],
) -> Caller | None:
    """The request's caller (its key is checked off the event loop)."""
    key = bearer.credentials if bearer is not None else header
    if key is None:
        return api.stack.access.caller(None)  # no I/O: None, or Unauthenticated where keys are required
    return await api.run(api.stack.access.caller, key)


CallerOf = Annotated[Caller | None, Depends(request_caller)]


async def request_reader(api: Api, caller: CallerOf) -> Caller | None:
    """The caller of a read, a wait or a stream, once within its key's `reads` limit."""
    if caller is not None:
        await api.run(api.stack.access.within_read_limit, caller)
    return caller


ReaderOf = Annotated[Caller | None, Depends(request_reader)]


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
