"""The HTTP API as its own process (`babelq api`): the app factory each uvicorn worker process
calls, so that every process builds its own stack (engine, broker connections, notice listener)
after it starts, never before a fork."""

from __future__ import annotations

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
    return create_app(build_stack(settings, secret=deployment_key(settings)), owns_stack=True)
