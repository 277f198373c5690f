"""How a job's prompt reaches the model: through the micro-batcher (static engine) or straight
into a continuous-batching runner, behind one `submit` so the Responder does not care which."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ops.errors import ItemExpired, WorkerDraining
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

    def drain(self) -> int:
        """Take no more items and hand back those not yet running; returns how many."""
        ...

    def close(self, timeout: float | None = None) -> None: ...


class ContinuousFeeder:
    """Each job joins the running batch at once and leaves it when its answer ends."""

    def __init__(
        self,
        runner: ContinuousBatchRunner,
        clock: Callable[[], float] = time.monotonic,
        on_outcome: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self._runner = runner
        self._clock = clock
        self._on_outcome = on_outcome  # the breaker hears of every request's success or failure
        self._draining = False

    def submit(
        self, item: PromptRequest, tokens: int = 0, deadline: float | None = None
    ) -> Future[Batched[Generation]]:
        outer: Future[Batched[Generation]] = Future()
        if self._draining:
            raise WorkerDraining("the worker is shutting down; job handed back")
        if deadline is not None and self._clock() >= deadline:
            outer.set_exception(ItemExpired("deadline passed before the item could run"))
            return outer
        started = self._clock()
        try:
            inner = self._runner.submit(item.messages, item.max_new_tokens)
        except BaseException as exc:  # a dead generation loop refuses at once: the breaker must hear it
            if self._on_outcome is not None:
                self._on_outcome(exc)
            raise
        inner.add_done_callback(lambda done: self._relay(done, outer, started))
        return outer

    def drain(self) -> int:
        """Joined sequences are all running (there is no waiting line here): let them finish."""
        self._draining = True
        return 0

    def close(self, timeout: float | None = None) -> None:
        self._runner.close(timeout)

    def _relay(self, done: Future[Generation], outer: Future[Batched[Generation]], started: float) -> None:
        error = done.exception()
        if self._on_outcome is not None:
            self._on_outcome(error)
        if error is not None:
            outer.set_exception(error)
            return
        # Sequences join and leave one by one: there is no batch to report, so each counts as 1.
        outer.set_result(Batched(done.result(), 1, 0.0, self._clock() - started))
