"""The headers every response babelq serves carries: a Content-Security-Policy (with
`frame-ancestors 'none'`: no other site frames anything of ours), `nosniff` and no referrer.

The web page and its files get the page's policy: everything from this origin only, no inline
script. The API docs (development only, unless BABELQ_API_DOCS) load Swagger UI from its CDN,
and get a policy that allows that and nothing else. Everything else is data, which loads nothing.
A plain ASGI middleware: no extra task per request.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
DOCS_CDN = "https://cdn.jsdelivr.net"  # where FastAPI's docs pages load Swagger UI and ReDoc from
DOCS_CSP = (
    f"default-src 'none'; script-src 'unsafe-inline' {DOCS_CDN}; style-src 'unsafe-inline' {DOCS_CDN}; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
DOCS_PATHS = ("/docs", "/redoc")
SAME_FOR_ALL = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# What an answer sent outside this middleware (a 500 from Starlette's error middleware) carries.
DATA_HEADERS = {"Content-Security-Policy": DATA_CSP, **SAME_FOR_ALL}


def policy_for(path: str) -> str:
    if path == "/" or path.startswith("/static/"):
        return PAGE_CSP
    if path.startswith(DOCS_PATHS):
        return DOCS_CSP
    return DATA_CSP


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers.update(SAME_FOR_ALL)
            await send(message)

        await self.app(scope, receive, with_headers)
