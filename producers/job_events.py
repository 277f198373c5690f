"""`GET /v1/jobs/{id}/events`: a job's life as server-sent events.

`status` when the job's state changes (queued, running, done, …), `token` with the answer so far
while a streamed job is generated, then `answer` with the whole job once it has ended, and the
stream closes. Each status change is read from the store when a notice says the job changed
(producers/waiters.py), not by polling; tokens come from the worker through the partial-answer
feed (producers/partial_feed.py). A job is streamed when it was posted with `"stream": true`, or
when a stream opens before a worker begins it. A stream lasts at most the job's deadline (else
BABELQ_JOB_DEADLINE_S); a client that reconnects gets the current state first.

The `answer` event is the truth: token events are progress (a lost one is skipped, the next
carries the whole text so far), and the stored answer may differ from the last of them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from core.jobs import JobStatus
from persistence import views
from producers.access import job_readable
from producers.api_auth import ReaderOf, stream_owner
from producers.api_context import Api, ApiContext
from producers.partial_feed import Follower
from producers.route_ids import uuid_or_404
from producers.schemas import JobOut
from producers.stream_slots import StreamSlot

KEEPALIVE_S = 15  # a comment line this often keeps proxies from closing a quiet stream
router = APIRouter()


@router.get(
    "/v1/jobs/{job_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "status…, token…, answer"},
        404: {"description": "Unknown job"},
    },
)
async def job_events(api: Api, job_id: str, caller: ReaderOf) -> EventSourceResponse:
    """The job's status changes, its answer so far while it is generated, and its answer, as
    server-sent events."""
    factory, feed = api.stack.factory, api.feed
    view = await api.run(views.get_job, factory, uuid_or_404(job_id, "job"))
    if view is None or not await api.run(job_readable, factory, caller, view):
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    slot = api.slots.take(stream_owner(caller))  # 429 past a cap, before the stream begins
    try:
        until = _stream_end(view, api.settings.job_deadline_s)
        if view.status == JobStatus.QUEUED and feed.live:  # not begun: its worker will stream it
            await api.run(feed.want, view.job_id, until - time.monotonic())
    except BaseException:
        slot.release()
        raise
    return _HeldStream(slot, _Stream(api, until).events(view), ping=KEEPALIVE_S)


class _HeldStream(EventSourceResponse):
    """An event stream that gives its slot back when it ends, however it ends (the job ended,
    the client went away, the server is stopping)."""

    def __init__(self, slot: StreamSlot, content: AsyncIterator[dict[str, str]], ping: int) -> None:
        super().__init__(content, ping=ping)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()


def _stream_end(view: views.JobView, default_deadline_s: float) -> float:
    """The monotonic time the stream stops waiting: the job's deadline, else the default's."""
    if view.deadline_at is not None:
        seconds = (view.deadline_at - datetime.now(UTC)).total_seconds()
    else:
        seconds = default_deadline_s
    return time.monotonic() + max(1.0, seconds + 5.0)


class _Stream:
    """One client's stream of one job, until the monotonic time `until`."""

    def __init__(self, api: ApiContext, until: float) -> None:
        self._api = api
        self._waiters = api.waiters
        self._feed = api.feed
        self._until = until

    async def events(self, first: views.JobView) -> AsyncIterator[dict[str, str]]:
        view, last = first, None
        with (
            self._waiters.watch(first.job_id, every_change=True) as announced,
            self._feed.follow(first.job_id) as follower,
        ):
            while True:
                if view.status != last:
                    last = view.status
                    yield {"event": "status", "data": _status(view)}
                if view.status.final:
                    answer = JobOut.of(view, self._api.stack.table)  # with how the job is handled
                    yield {"event": "answer", "data": answer.model_dump_json()}
                    return
                left = self._until - time.monotonic()
                if left <= 0:
                    return
                async for token in self._tokens_until_announced(announced, follower, left):
                    yield token
                latest = await self._api.run(views.get_job, self._api.stack.factory, first.job_id)
                view = latest or view

    async def _tokens_until_announced(
        self, announced: asyncio.Event, follower: Follower, left: float
    ) -> AsyncIterator[dict[str, str]]:
        """A `token` event for each new text heard, until the job is announced as changed (or
        the wait ends): the store is read only then, not for every token."""
        noticed = asyncio.ensure_future(self._waiters.until_announced(announced, left))
        heard: asyncio.Future[Any] | None = None
        try:
            while not noticed.done():
                heard = asyncio.ensure_future(follower.changed.wait())
                await asyncio.wait({noticed, heard}, return_when=asyncio.FIRST_COMPLETED)
                heard.cancel()
                progress = follower.take()
                if progress is not None:
                    yield {
                        "event": "token",
                        "data": json.dumps({"text": progress.text, "delta": progress.delta}),
                    }
        finally:  # also when the client went away mid-wait: no task is left pending
            noticed.cancel()
            if heard is not None:
                heard.cancel()


def _status(view: views.JobView) -> str:
    state = {
        "job_id": view.job_id,
        "status": view.status.value,
        "queue": view.queue,
        "language": view.language,
    }
    return json.dumps(state)
