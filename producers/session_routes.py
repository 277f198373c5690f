"""`POST /v1/sessions`: a visitor session for the web page (producers/visitor_sessions.py).

Without a credential: a new visitor, within a person's limit of new sessions per client address.
With a live session as its bearer: the same visitor, renewed. Anything else is 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from core.errors import Unauthenticated
from producers.api_auth import bearer_scheme
from producers.api_context import Api

router = APIRouter()


class SessionOut(BaseModel):
    """A visitor session: send `token` as `Authorization: Bearer …` until `expires_at`."""

    token: str
    channel: str
    visitor: str
    expires_at: float


@router.post(
    "/v1/sessions", response_model=SessionOut, responses={401: {"description": "Not a live session"}}
)
async def new_session(
    api: Api,
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> SessionOut:
    """A session for one visitor of the web channel, or a live one renewed."""
    access, web_channel = api.stack.access, api.settings.web_channel
    if bearer is not None:
        caller = access.sessions.check(bearer.credentials)  # no I/O: an HMAC and the clock
        if caller.visitor is None:
            raise Unauthenticated("only a visitor session is renewed here")
        return SessionOut(**access.sessions.issue(caller.channel, caller.visitor).__dict__)
    client = request.client.host if request.client is not None else "unknown"
    await api.run(access.within_session_limit, web_channel, client)
    return SessionOut(**access.sessions.issue(web_channel).__dict__)
