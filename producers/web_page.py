"""The web chat page at `/`: three static files served by the API itself (no build step, no
CDN), under a Content-Security-Policy that lets the page load nothing from anywhere else (set
on every response, the files under /static too: producers/security_headers.py)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter()


def _folder() -> Traversable:
    return resources.files("producers") / "web"


@cache
def _page() -> str:
    return (_folder() / "index.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
async def chat_page() -> HTMLResponse:
    """The web chat page (a conversation per browser, answers streamed in)."""
    return HTMLResponse(_page())


def mount_web_files(app: FastAPI) -> None:
    """The page's script and style under /static (a mount: routers carry routes, not mounts)."""
    app.mount("/static", StaticFiles(directory=str(_folder())), name="static")
