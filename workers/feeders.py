"""How a job's prompt reaches the model: through the micro-batcher (static engine) or straight
into a continuous-batching runner, behind one `submit` so the Responder does not care which."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ops.errors import ItemExpired
from workers.batcher import Batched
from workers.runners.base import ChatMessage, Generation

if TYPE_CHECKING:
    from workers.runners.continuous import ContinuousBatchRunner


@dataclass(frozen=True)
class PromptRequest:
    """What a job hands the engine: its chat messages and its answer-length cap."""

    messages: list[ChatMessage]
    max_new_tokens: int


class Feeder(Protocol):
    """Takes one prompt, returns a Future of its generation with the facts of its batch."""

    def submit(
        self, item: PromptRequest, tokens: int = 0, deadline: float | None = None
    ) -> Future[Batched[Generation]]: ...

    def close(self, timeout: float | None = None) -> None: ...


class ContinuousFeeder:
    """Each job joins the running batch at once and leaves it when its answer ends."""

    def __init__(self, runner: ContinuousBatchRunner, clock: Callable[[], float] = time.monotonic) -> None:
        self._runner = runner
        self._clock = clock

    def submit(
        self, item: PromptRequest, tokens: int = 0, deadline: float | None = None
    ) -> Future[Batched[Generation]]:
        outer: Future[Batched[Generation]] = Future()
        if deadline is not None and self._clock() >= deadline:
            outer.set_exception(ItemExpired("deadline passed before the item could run"))
            return outer
        started = self._clock()
        inner = self._runner.submit(item.messages, item.max_new_tokens)
        inner.add_done_callback(lambda done: self._relay(done, outer, started))
        return outer

    def close(self, timeout: float | None = None) -> None:
        self._runner.close(timeout)

    def _relay(self, done: Future[Generation], outer: Future[Batched[Generation]], started: float) -> None:
        error = done.exception()
        if error is not None:
            outer.set_exception(error)
            return
        # Sequences join and leave one by one: there is no batch to report, so each counts as 1.
        outer.set_result(Batched(done.result(), 1, 0.0, self._clock() - started))
