"""The web chat page at `/`: three static files served by the API itself (no build step, no
CDN), under a Content-Security-Policy that lets the page load nothing from anywhere else."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# Everything from this origin only; no inline script, no framing by other sites.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def add_web_page(app: FastAPI) -> None:
    folder = resources.files("producers") / "web"
    page = (folder / "index.html").read_text(encoding="utf-8")
    app.mount("/static", StaticFiles(directory=str(folder)), name="static")

    @app.get("/", response_class=HTMLResponse)
    async def chat_page() -> HTMLResponse:
        """The web chat page (a conversation per browser, answers streamed in)."""
        headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer"}  # fmt: skip
        return HTMLResponse(page, headers=headers)
