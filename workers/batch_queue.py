"""The batch-cutting rule, as pure state: pending items, a policy, and `now` passed in.

A batch is cut when it is full, when its oldest item has waited `max_wait_ms`, or when the pending
items could not all fit the token budget anyway. The oldest item always goes first (nobody
starves); the rest of the batch is filled with the items closest to it in length, so padding
stays small. The budget counts the padded batch: size × the longest item (prompt + new tokens),
which is what the model actually allocates.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from core.errors import ConfigurationError

T = TypeVar("T")


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


@dataclass
class Pending(Generic[T]):
    """One submitted item, waiting for its batch."""

    item: T
    tokens: int
    enqueued_at: float
    deadline: float | None = None
    future: Future[object] = field(default_factory=Future)

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline


@dataclass
class Cut(Generic[T]):
    """What one call to `BatchQueue.cut` took out: a batch to run and items past their deadline."""

    batch: list[Pending[T]]
    expired: list[Pending[T]]


class BatchQueue(Generic[T]):
    """The pending items and the rule that cuts batches; methods take `now` explicitly."""

    def __init__(self, policy: BatchPolicy, size_cap: int | None = None) -> None:
        self.policy = policy
        self.size_cap = size_cap
        self._pending: list[Pending[T]] = []

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def max_size(self) -> int:
        """The policy's size, lowered by the cap (OOM backoff) when one is set."""
        cap = self.size_cap if self.size_cap is not None else self.policy.max_batch_size
        return max(1, min(self.policy.max_batch_size, cap))

    def put(self, pending: Pending[T]) -> None:
        self._pending.append(pending)

    def take_all(self) -> list[Pending[T]]:
        """Remove and return every pending item (a worker handing its queue back)."""
        taken, self._pending = self._pending, []
        return taken

    def seconds_until_ready(self, now: float) -> float | None:
        """0 when a cut is due now, else the time until the oldest item's wait or any deadline
        ends; None when nothing is pending."""
        if not self._pending:
            return None
        if self._batch_due(now, self._pending) or self._any_expired(now):
            return 0.0
        waits = [self.policy.max_wait_ms / 1000.0 - (now - self._pending[0].enqueued_at)]
        waits += [p.deadline - now for p in self._pending if p.deadline is not None]
        return max(0.0, min(waits))

    def ready(self, now: float) -> bool:
        return self.seconds_until_ready(now) == 0.0

    def cut(self, now: float, force: bool = False) -> Cut[T]:
        """Take the expired items and, when one is due (or `force`), one batch: the oldest item
        plus its nearest in length."""
        expired = [p for p in self._pending if p.expired(now)]
        live = [p for p in self._pending if not p.expired(now)]
        batch = self._choose(live) if force or self._batch_due(now, live) else []
        chosen = {id(p) for p in batch}
        self._pending = [p for p in live if id(p) not in chosen]
        return Cut(batch, expired)

    def _choose(self, live: list[Pending[T]]) -> list[Pending[T]]:
        if not live:
            return []
        anchor, rest = live[0], live[1:]
        batch = [anchor]
        for candidate in sorted(rest, key=lambda p: abs(p.tokens - anchor.tokens)):
            if len(batch) >= self.max_size:
                break
            if self._fits([*batch, candidate]):
                batch.append(candidate)
        return batch

    def _fits(self, batch: list[Pending[T]]) -> bool:
        budget = self.policy.max_batch_tokens
        return budget is None or padded_tokens(batch) <= budget

    def _batch_due(self, now: float, live: list[Pending[T]]) -> bool:
        if not live:
            return False
        waited = now - live[0].enqueued_at
        return (
            len(live) >= self.max_size
            or self._over_budget(live)
            or waited >= self.policy.max_wait_ms / 1000.0
        )

    def _over_budget(self, live: list[Pending[T]]) -> bool:
        budget = self.policy.max_batch_tokens
        return budget is not None and padded_tokens(live[: self.max_size]) > budget

    def _any_expired(self, now: float) -> bool:
        return any(p.expired(now) for p in self._pending)


def padded_tokens(batch: list[Pending[T]]) -> int:
    """What a left-padded batch costs: its size times its longest item."""
    return len(batch) * max((p.tokens for p in batch), default=0)
