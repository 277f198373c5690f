"""The micro-batcher: pure code (no Celery, torch or I/O), the clock injected.

Callers `submit` one item at a time and get a Future; a loop groups pending items into batches by
size, waiting time and token budget, calls the batch function once per batch, and resolves every
item's Future with its own outcome. An exception raised by the batch function reaches every item
of that batch; a result list of the wrong length is an error, never a silent mismatch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ops.errors import BatcherClosed, BatchResultMismatch, ConfigurationError, ItemTooLarge

T = TypeVar("T")
R = TypeVar("R")
Clock = Callable[[], float]
BatchFunction = Callable[[list[T]], Sequence["R | BaseException"]]


@dataclass(frozen=True)
class BatchPolicy:
    """When a batch is cut: at max_batch_size items, after max_wait_ms, within max_batch_tokens."""

    max_batch_size: int
    max_wait_ms: float
    max_batch_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ConfigurationError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.max_wait_ms < 0:
            raise ConfigurationError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.max_batch_tokens is not None and self.max_batch_tokens < 1:
            raise ConfigurationError(f"max_batch_tokens must be >= 1, got {self.max_batch_tokens}")


@dataclass(frozen=True)
class Batched(Generic[R]):
    """One item's outcome plus the facts of the batch it ran in."""

    value: R
    batch_size: int
    wait_s: float
    run_s: float


@dataclass
class Pending(Generic[T]):
    item: T
    tokens: int
    enqueued_at: float
    future: Future[Batched[object]] = field(default_factory=Future)


class BatchQueue(Generic[T]):
    """The pending items and the rule that cuts batches; every method takes `now` explicitly."""

    def __init__(self, policy: BatchPolicy) -> None:
        self.policy = policy
        self._pending: deque[Pending[T]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, pending: Pending[T]) -> None:
        self._pending.append(pending)

    def ready(self, now: float) -> bool:
        return self.seconds_until_ready(now) == 0.0

    def seconds_until_ready(self, now: float) -> float | None:
        """0 when a batch can be cut now, the time left until the oldest item's wait ends, or
        None when nothing is pending."""
        if not self._pending:
            return None
        if len(self._pending) >= self.policy.max_batch_size or self._over_budget():
            return 0.0
        waited = now - self._pending[0].enqueued_at
        return max(0.0, self.policy.max_wait_ms / 1000.0 - waited)

    def take(self) -> list[Pending[T]]:
        """Cut one batch in arrival order, within the size cap and the token budget."""
        batch: list[Pending[T]] = []
        tokens = 0
        budget = self.policy.max_batch_tokens
        while self._pending and len(batch) < self.policy.max_batch_size:
            nxt = self._pending[0]
            if batch and budget is not None and tokens + nxt.tokens > budget:
                break
            batch.append(self._pending.popleft())
            tokens += nxt.tokens
        return batch

    def drain(self) -> list[Pending[T]]:
        items = list(self._pending)
        self._pending.clear()
        return items

    def _over_budget(self) -> bool:
        budget = self.policy.max_batch_tokens
        return budget is not None and sum(p.tokens for p in self._pending) > budget


class Batcher(Generic[T, R]):
    """Thread-safe front of a BatchQueue: submit from many threads, one loop runs batches."""

    def __init__(
        self, policy: BatchPolicy, run_batch: BatchFunction[T, R], clock: Clock = time.monotonic
    ) -> None:
        self._queue: BatchQueue[T] = BatchQueue(policy)
        self._run_batch = run_batch
        self._clock = clock
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def policy(self) -> BatchPolicy:
        return self._queue.policy

    def submit(self, item: T, tokens: int = 0) -> Future[Batched[R]]:
        """Queue one item; its Future resolves to Batched[R] or raises that item's error."""
        budget = self.policy.max_batch_tokens
        if budget is not None and tokens > budget:
            raise ItemTooLarge(f"item needs {tokens} tokens, the batch budget is {budget}")
        pending: Pending[T] = Pending(item, tokens, self._clock())
        with self._cond:
            if self._closed:
                raise BatcherClosed("the batcher is closed")
            self._queue.put(pending)
            self._cond.notify()
        return pending.future  # type: ignore[return-value]

    def step(self) -> int:
        """Run one batch if one is ready now; returns its size (0 when none was ready)."""
        with self._cond:
            if not self._queue.ready(self._clock()):
                return 0
            batch = self._queue.take()
        self._execute(batch)
        return len(batch)

    def start(self, name: str = "babelq-batcher") -> None:
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def close(self, timeout: float | None = None) -> None:
        """Stop taking items, run what is pending, and stop the loop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._execute(batch)

    def _next_batch(self) -> list[Pending[T]] | None:
        with self._cond:
            while True:
                wait = self._queue.seconds_until_ready(self._clock())
                if wait == 0.0:
                    return self._queue.take()
                if self._closed:
                    return self._queue.take() if len(self._queue) else None
                self._cond.wait(timeout=wait)

    def _execute(self, batch: list[Pending[T]]) -> None:
        started = self._clock()
        try:
            results = self._run_batch([p.item for p in batch])
            if len(results) != len(batch):
                raise BatchResultMismatch(f"batch of {len(batch)} returned {len(results)} results")
        except BaseException as exc:  # every item must get its own outcome, whatever was raised
            results = [exc] * len(batch)
        finished = self._clock()
        for pending, result in zip(batch, results, strict=True):
            _resolve(pending, result, len(batch), started, finished)


def _resolve(pending: Pending[T], result: object, size: int, started: float, finished: float) -> None:
    if isinstance(result, BaseException):
        pending.future.set_exception(result)
        return
    pending.future.set_result(Batched(result, size, started - pending.enqueued_at, finished - started))
