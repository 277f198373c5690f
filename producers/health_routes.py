"""What operators read: `/healthz` (the process runs), `/readyz` (it reaches its broker and store),
`/metrics` (Prometheus) and `/v1/cache` (the answer cache's counters, admin keys only)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from producers.access import require_scope
from producers.api_auth import ReaderOf
from producers.api_context import Api

router = APIRouter()


@router.get("/v1/cache")
async def cache_stats(api: Api, caller: ReaderOf) -> dict[str, object]:
    """The answer cache's backend, hit and miss counters and entries (admin keys only)."""
    require_scope(caller, "admin")
    return dict((await api.run(api.stack.cache.stats)).__dict__)


@router.get("/metrics", include_in_schema=False)
async def metrics(api: Api) -> Response:
    """Prometheus text format: this process's counters and the queues' depths."""
    body = await api.run(generate_latest, api.stack.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(api: Api) -> JSONResponse:
    state = await api.run(api.stack.readiness)
    body = {"status": "ready" if state.ready else "not ready", "broker": state.broker, "store": state.store}
    return JSONResponse(body, status_code=200 if state.ready else 503)
