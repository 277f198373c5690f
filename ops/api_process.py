"""The HTTP API as its own process (`babelq api`): the app factory each uvicorn worker process
calls, so that every process builds its own stack (engine, broker connections, notice listener)
after it starts, never before a fork."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.deployment_key import deployment_key
from core.settings import load_settings
from ops.logs import configure_logging
from producers.api import create_app
from producers.stack import build_stack


def create_api() -> FastAPI:
    """Settings from BABELQ_* (validated here, in each process), the stack, the app over it."""
    settings = load_settings()
    configure_logging(settings.log_format)
    stack = build_stack(settings, secret=deployment_key(settings))
    app = create_app(stack)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        async with inner(application):
            yield
        stack.close()

    app.router.lifespan_context = lifespan
    return app
