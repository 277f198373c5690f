"""`GET /v1/jobs/{id}/events`: a job's life as server-sent events.

`status` when the job's state changes (queued, running, done, …), then `answer` with the whole
job once it has ended, then the stream closes. Each change is read from the store when a notice
says the job changed (producers/waiters.py), not by polling; the engines answer whole texts, so
there are no `token` events yet. A stream lasts at most the job's deadline (else
BABELQ_JOB_DEADLINE_S); a client that reconnects gets the current state first.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from sse_starlette import EventSourceResponse

from core.errors import InvalidInput
from core.jobs import canonical_uuid
from persistence import views
from persistence.api_keys import Caller
from persistence.db import SessionFactory
from producers.access import Access
from producers.schemas import JobOut
from producers.waiters import AnswerWaiters

RunBlocking = Callable[..., Awaitable[Any]]
KEEPALIVE_S = 15  # a comment line this often keeps proxies from closing a quiet stream


def add_event_routes(
    app: FastAPI, factory: SessionFactory, access: Access, run: RunBlocking, waiters: AnswerWaiters,
    caller_of: Callable[..., Any], default_deadline_s: float,
) -> None:  # fmt: skip
    @app.get(
        "/v1/jobs/{job_id}/events",
        response_class=EventSourceResponse,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "status…, answer"},
            404: {"description": "Unknown job"},
        },
    )
    async def job_events(job_id: str, caller: Caller | None = Depends(caller_of)) -> EventSourceResponse:
        """The job's status changes and its answer, as server-sent events."""
        view = await run(views.get_job, factory, _canonical(job_id))
        if view is None or not access.may_read(caller, view.channel):
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        until = _stream_end(view, default_deadline_s)
        return EventSourceResponse(_events(view, factory, run, waiters, until), ping=KEEPALIVE_S)


def _canonical(job_id: str) -> str:
    try:
        return canonical_uuid(job_id)
    except InvalidInput as exc:
        raise HTTPException(status_code=404, detail=f"no job {job_id!r} (not a UUID)") from exc


def _stream_end(view: views.JobView, default_deadline_s: float) -> float:
    """The monotonic time the stream stops waiting: the job's deadline, else the default's."""
    if view.deadline_at is not None:
        seconds = (view.deadline_at - datetime.now(UTC)).total_seconds()
    else:
        seconds = default_deadline_s
    return time.monotonic() + max(1.0, seconds + 5.0)


async def _events(
    first: views.JobView, factory: SessionFactory, run: RunBlocking, waiters: AnswerWaiters, until: float
) -> AsyncIterator[dict[str, str]]:
    view, last = first, None
    with waiters.watch(first.job_id, every_change=True) as announced:
        while True:
            if view.status != last:
                last = view.status
                yield {"event": "status", "data": _status(view)}
            if view.status.final:
                yield {"event": "answer", "data": JobOut.of(view).model_dump_json()}
                return
            left = until - time.monotonic()
            if left <= 0:
                return
            await waiters.until_announced(announced, left)
            view = await run(views.get_job, factory, first.job_id) or view


def _status(view: views.JobView) -> str:
    state = {
        "job_id": view.job_id,
        "status": view.status.value,
        "queue": view.queue,
        "language": view.language,
    }
    return json.dumps(state)
