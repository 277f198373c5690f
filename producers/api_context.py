"""What the API's routes read: the process's stack and the API's own helpers (its thread pool,
the answer waiters, the partial-answer feed, the stream caps), built once by `create_app`, kept
on `app.state` and handed to each route by FastAPI's dependency injection (`Api`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, FastAPI, Request

from core.settings import Settings
from persistence import views
from producers.partial_feed import PartialFeed
from producers.stack import Stack
from producers.stream_slots import StreamSlots
from producers.waiters import AnswerWaiters

T = TypeVar("T")
# Threads for the blocking calls (store, broker). About the broker's producer pool (10): more
# threads only queue for a producer, and on few cores they fight over the GIL.
BLOCKING_THREADS = 10


class BlockingThreads:
    """The API's own bounded thread pool for blocking calls (store, broker).

    Cheaper per call than Starlette's `run_in_threadpool` (anyio's 40 threads behind a capacity
    limiter), and bounded: under load, queued calls wait for a thread instead of 40 threads
    taking turns with the GIL.
    """

    def __init__(self, size: int) -> None:
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="babelq-api")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False)


@dataclass(frozen=True)
class ApiContext:
    """One API process's state, as its routes see it."""

    stack: Stack
    threads: BlockingThreads
    waiters: AnswerWaiters
    feed: PartialFeed
    slots: StreamSlots

    @classmethod
    def of(cls, stack: Stack) -> ApiContext:
        settings = stack.settings
        return cls(
            stack=stack,
            threads=BlockingThreads(BLOCKING_THREADS),
            waiters=AnswerWaiters(stack.notices, partial(views.final_among, stack.factory)),
            feed=PartialFeed(stack.partials),
            slots=StreamSlots(settings.max_streams_per_caller, settings.max_streams),
        )

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the API's threads: a blocking call kept off the event loop."""
        return await self.threads.run(fn, *args)

    def start(self) -> None:
        self.waiters.start()
        self.feed.start()

    def close(self) -> None:
        self.waiters.close()
        self.threads.close()


def install(app: FastAPI, context: ApiContext) -> None:
    app.state.babelq = context


def api_context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.babelq)


Api = Annotated[ApiContext, Depends(api_context)]
