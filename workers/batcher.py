"""The micro-batcher: pure code (no Celery, torch or I/O), the clock injected.

Callers `submit` one item at a time and get a Future; one loop cuts batches (see batch_queue),
calls the batch function once per batch, and resolves every item's Future with its own outcome.
A batch that raises is split until what fails is alone (see backoff: out of memory, or one
poison item), so an error reaches only the items that fail on their own; a result list of the
wrong length is an error, never a silent mismatch; an item past its deadline is not run and gets
ItemExpired.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from core.errors import BatcherClosed, ItemExpired, ItemTooLarge, WorkerDraining
from workers.backoff import SizeCap, run_splitting
from workers.batch_queue import BatchPolicy, BatchQueue, Pending

T = TypeVar("T")
R = TypeVar("R")
Clock = Callable[[], float]
BatchFunction = Callable[[list[T]], Sequence["R | BaseException"]]

__all__ = ["BatchPolicy", "Batched", "Batcher"]


@dataclass(frozen=True)
class Batched(Generic[R]):
    """One item's outcome plus the facts of the batch it ran in."""

    value: R
    batch_size: int
    wait_s: float
    run_s: float


class Batcher(Generic[T, R]):
    """Thread-safe front of a BatchQueue: submit from many threads, one loop runs batches."""

    def __init__(
        self, policy: BatchPolicy, run_batch: BatchFunction[T, R], clock: Clock = time.monotonic
    ) -> None:
        self._queue: BatchQueue[T] = BatchQueue(policy)
        self._cap = SizeCap(policy.max_batch_size)
        self._run_batch = run_batch
        self._clock = clock
        self._cond = threading.Condition()
        self._closed = False
        self._draining = False
        self._thread: threading.Thread | None = None
        # told (size, seconds, padded tokens) of each batch run
        self.on_batch: Callable[[int, float, int], None] | None = None

    @property
    def policy(self) -> BatchPolicy:
        return self._queue.policy

    @property
    def size_cap(self) -> int:
        """The batch size the OOM backoff currently allows (≤ the policy's)."""
        return self._queue.max_size

    def change_policy(self, **changes: Any) -> BatchPolicy:
        """Apply a live change (fields of BatchPolicy, validated) and return the new policy."""
        policy = replace(self.policy, **changes)
        self.set_policy(policy)
        return policy

    def set_policy(self, policy: BatchPolicy) -> None:
        """Change the policy at run time; pending items are cut by the new one."""
        with self._cond:
            self._queue.policy = policy
            self._cap.reset(policy.max_batch_size)
            self._queue.size_cap = self._cap.current
            self._cond.notify()

    def submit(self, item: T, tokens: int = 0, deadline: float | None = None) -> Future[Batched[R]]:
        """Queue one item; its Future resolves to Batched[R] or raises that item's own error.
        `deadline` is on this batcher's clock."""
        budget = self.policy.max_batch_tokens
        if budget is not None and tokens > budget:
            raise ItemTooLarge(f"item needs {tokens} tokens, the batch budget is {budget}")
        pending: Pending[T] = Pending(item, tokens, self._clock(), deadline)
        with self._cond:
            if self._draining:
                raise WorkerDraining("the worker is shutting down; job handed back")
            if self._closed:
                raise BatcherClosed("the batcher is closed")
            self._queue.put(pending)
            self._cond.notify()
        return pending.future  # type: ignore[return-value]

    def step(self) -> int:
        """Run one batch if one is due now; returns its size (0 when none was)."""
        with self._cond:
            now = self._clock()
            if not self._queue.ready(now):
                return 0
            cut = self._queue.cut(now)
        _expire(cut.expired)
        self._execute(cut.batch)
        return len(cut.batch)

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

    @property
    def waiting(self) -> int:
        """Items submitted and not yet in a batch."""
        with self._cond:
            return len(self._queue)

    def drain(self) -> int:
        """Stop taking items and hand back every one not yet in a batch (each gets WorkerDraining);
        the batch running now finishes. Returns how many were handed back."""
        with self._cond:
            self._closed = self._draining = True
            handed_back = self._queue.take_all()
            self._cond.notify_all()
        for pending in handed_back:
            pending.future.set_exception(WorkerDraining("the worker is shutting down; job handed back"))
        return len(handed_back)

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._execute(batch)

    def _next_batch(self) -> list[Pending[T]] | None:
        with self._cond:
            while True:
                now = self._clock()
                wait = self._queue.seconds_until_ready(now)
                if wait == 0.0 or (self._closed and wait is not None):
                    cut = self._queue.cut(now, force=self._closed)
                    _expire(cut.expired)
                    if cut.batch:
                        return cut.batch
                    continue
                if self._closed:
                    return None
                self._cond.wait(timeout=wait)

    def _execute(self, batch: list[Pending[T]]) -> None:
        if not batch:
            return
        started = self._clock()
        items = [p.item for p in batch]
        try:
            results = run_splitting(items, self._run_batch, self._cap)
            self._cap.succeeded()
        except BaseException as exc:  # every item must get its own outcome, whatever was raised
            results = [exc] * len(batch)
        self._queue.size_cap = self._cap.current
        finished = self._clock()
        for pending, result in zip(batch, results, strict=True):
            _resolve(pending, result, len(batch), started, finished)
        if self.on_batch is not None:
            # padded, as the token budget counts them: every row as long as the longest
            self.on_batch(len(batch), finished - started, len(batch) * max(p.tokens for p in batch))


def _expire(expired: list[Pending[T]]) -> None:
    for pending in expired:
        pending.future.set_exception(ItemExpired("deadline passed before the item could run"))


def _resolve(pending: Pending[T], result: object, size: int, started: float, finished: float) -> None:
    if isinstance(result, BaseException):
        pending.future.set_exception(result)
        return
    wait = started - pending.enqueued_at
    pending.future.set_result(Batched(result, size, wait, finished - started))
