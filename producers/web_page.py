"""The web chat page at `/`: three static files served by the API itself (no build step, no
CDN), under a Content-Security-Policy that lets the page load nothing from anywhere else (set
on every response, the files under /static too: producers/security_headers.py)."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles


def add_web_page(app: FastAPI) -> None:
    folder = resources.files("producers") / "web"
    page = (folder / "index.html").read_text(encoding="utf-8")
    app.mount("/static", StaticFiles(directory=str(folder)), name="static")

    @app.get("/", response_class=HTMLResponse)
    async def chat_page() -> HTMLResponse:
        """The web chat page (a conversation per browser, answers streamed in)."""
        return HTMLResponse(page)
