"""How a job's prompt reaches the model: through the micro-batcher (static engine) or straight
into an engine that schedules its own requests (vLLM), behind one `submit` so the Responder does
not care which."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import ConfigurationError, ItemExpired, ItemTooLarge, WorkerDraining
from workers.batcher import Batched, BatchPolicy
from workers.occupancy import Occupancy
from workers.runners.base import ChatMessage, Generation, StreamingRunner, TextListener


@dataclass(frozen=True)
class PromptRequest:
    """What a job hands the engine: its chat messages and its answer-length cap."""

    messages: list[ChatMessage]
    max_new_tokens: int
    on_text: TextListener | None = None
    """Told the answer so far while it is generated, for a job someone streams."""


class Feeder(Protocol):
    """Takes one prompt, returns a Future of its generation with the facts of its batch."""

    on_batch: Callable[[int, float, int], None] | None
    """Told (size, seconds) of every batch run (vllm: every answer and its company)."""

    def submit(
        self, item: PromptRequest, tokens: int = 0, deadline: float | None = None
    ) -> Future[Batched[Generation]]: ...

    def drain(self) -> int:
        """Take no more items and hand back those not yet running; returns how many."""
        ...

    @property
    def policy(self) -> BatchPolicy: ...

    @property
    def size_cap(self) -> int:
        """The batch size the OOM backoff allows now (at most the policy's)."""
        ...

    def change_policy(self, **changes: Any) -> BatchPolicy:
        """Apply a live change to the batch policy; ConfigurationError for one it cannot take."""
        ...

    def close(self, timeout: float | None = None) -> None: ...


@dataclass
class _Waiting:
    """A job in the streaming feeder's line, until a running sequence leaves."""

    item: PromptRequest
    input_ids: list[int]
    outer: Future[Batched[Generation]]
    deadline: float | None
    queued_at: float


class ContinuousFeeder:
    """Each job joins the running batch as soon as a sequence slot is free (at once, below the
    runner's cap) and leaves it when its answer ends. Jobs above the cap wait in this feeder's own
    line, not inside the runner, so that a shutting-down worker can hand them back untouched."""

    def __init__(
        self,
        runner: StreamingRunner,
        clock: Callable[[], float] = time.monotonic,
        on_outcome: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self._runner = runner
        self._clock = clock
        self._on_outcome = on_outcome  # the breaker hears of every request's success or failure
        self._draining = False
        self._occupancy = Occupancy(clock)
        self._last_failure: BaseException | None = None
        # Health hears of every answer as a "batch" of the sequences that ran alongside it.
        self.on_batch: Callable[[int, float, int], None] | None = None
        self._lock = threading.Lock()
        self._line: deque[_Waiting] = deque()
        self._running = 0

    @property
    def policy(self) -> BatchPolicy:
        """Jobs join the running batch at once (no wait); the token budget is the KV cache's."""
        return BatchPolicy(self._runner.max_batch_size, 0.0, self._runner.cache_tokens)

    @property
    def size_cap(self) -> int:
        return self._runner.size_cap

    def change_policy(self, **changes: Any) -> BatchPolicy:
        """Only max_batch_size changes live here: there is no wait to tune, and the token budget
        sized the KV cache when the worker started."""
        fixed = sorted(set(changes) - {"max_batch_size"})
        if fixed:
            raise ConfigurationError(
                f"the vllm engine cannot change {', '.join(fixed)} live: jobs join the running "
                "batch at once (no max_wait_ms) and max_batch_tokens was set when it started"
            )
        if "max_batch_size" in changes:
            self._runner.set_max_batch_size(int(changes["max_batch_size"]))
        self._start_waiting()  # a raised cap lets waiting jobs in now
        return self.policy

    def submit(
        self, item: PromptRequest, tokens: int = 0, deadline: float | None = None
    ) -> Future[Batched[Generation]]:
        budget = self._runner.cache_tokens
        if budget is not None and tokens > budget:
            raise ItemTooLarge(f"item needs {tokens} tokens, the batch budget is {budget}")
        # Encoded here, in the job's own thread: the next start may run on the runner's result thread.
        waiting = _Waiting(item, self._runner.encode(item.messages), Future(), deadline, self._clock())
        with self._lock:
            if self._draining:
                raise WorkerDraining("the worker is shutting down; job handed back")
            self._line.append(waiting)
        self._start_waiting()
        return waiting.outer

    def drain(self) -> int:
        """Take no more jobs; hand back those still in line. Running sequences finish."""
        with self._lock:
            self._draining = True
            handed_back = list(self._line)
            self._line.clear()
        for waiting in handed_back:
            waiting.outer.set_exception(WorkerDraining("the worker is shutting down; job handed back"))
        return len(handed_back)

    def close(self, timeout: float | None = None) -> None:
        self._runner.close(timeout)

    def _start_waiting(self) -> None:
        """Start jobs from the head of the line while sequence slots are free."""
        while (waiting := self._next_to_start()) is not None:
            if waiting.deadline is not None and self._clock() >= waiting.deadline:
                expired = ItemExpired("deadline passed before the item could run")
                self._finish_without_running(waiting, expired)
            else:
                self._start(waiting)

    def _next_to_start(self) -> _Waiting | None:
        with self._lock:
            if not self._line or self._running >= self._runner.size_cap:
                return None
            self._running += 1
            return self._line.popleft()

    def _start(self, waiting: _Waiting) -> None:
        mark = self._occupancy.enter()
        try:
            inner = self._runner.submit_tokens(
                waiting.input_ids, waiting.item.max_new_tokens, waiting.item.on_text, waiting.deadline
            )
        except BaseException as exc:  # a closed runner refuses at once: the breaker must hear it
            self._occupancy.leave(mark)
            self._report(exc)
            self._finish_without_running(waiting, exc)
            return
        inner.add_done_callback(lambda done: self._relay(done, waiting, mark))

    def _finish_without_running(self, waiting: _Waiting, error: BaseException) -> None:
        with self._lock:
            self._running -= 1
        waiting.outer.set_exception(error)

    def _relay(self, done: Future[Generation], waiting: _Waiting, mark: tuple[float, float]) -> None:
        alongside = self._occupancy.leave(mark)
        with self._lock:
            self._running -= 1
        try:
            error = done.exception()
            self._report(error)
            if error is not None:
                waiting.outer.set_exception(error)
            else:
                # No batch to report: its size is the mean number of sequences running alongside it.
                started, now = mark[0], self._clock()
                batched = Batched(done.result(), round(alongside), started - waiting.queued_at, now - started)
                waiting.outer.set_result(batched)
                if self.on_batch is not None:  # no batch, so no batch tokens either
                    self.on_batch(batched.batch_size, batched.run_s, 0)
        finally:
            self._start_waiting()  # a slot is free whatever happened above

    def _report(self, error: BaseException | None) -> None:
        """Tell the breaker; the requests of one dead loop share one error and count once."""
        if self._on_outcome is None or (error is not None and error is self._last_failure):
            return
        self._last_failure = error
        self._on_outcome(error)
