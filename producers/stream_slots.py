"""Caps on what holds a connection open (event streams and `?wait=` requests): so many per key
and so many in this process. Past either cap the request is 429 with a Retry-After, before the
stream begins: one key cannot take every connection (and the memory behind them) of an API
process, and `/healthz` stays quick.

The counts are this process's own (each API process caps its own connections); they are
changed only on the event loop's thread, between awaits, so they need no lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import RateLimited

# A held connection ends within a wait (60 s at most) or a job's deadline; a second is a fair
# first retry for a client that is over its cap.
RETRY_AFTER_S = 1.0


class StreamSlot:
    """One held connection; released once, however often it is asked to be."""

    def __init__(self, slots: StreamSlots, owner: str | None) -> None:
        self._slots = slots
        self._owner = owner
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.give_back(self._owner)


class StreamSlots:
    def __init__(self, per_owner: int, per_process: int) -> None:
        self._per_owner = per_owner
        self._per_process = per_process
        self._held: Counter[str] = Counter()
        self._total = 0

    def take(self, owner: str | None) -> StreamSlot:
        """A slot for `owner` (a key, a visitor session; None: an open request of a stack that
        needs no keys, capped by the process's cap only), or RateLimited past a cap."""
        if self._total >= self._per_process:
            raise RateLimited(f"this API process holds {self._total} open streams, its cap", RETRY_AFTER_S)
        if owner is not None and self._held[owner] >= self._per_owner:
            raise RateLimited(f"{self._per_owner} open streams and waits is one caller's cap", RETRY_AFTER_S)
        self._total += 1
        if owner is not None:
            self._held[owner] += 1
        return StreamSlot(self, owner)

    @contextmanager
    def holding(self, owner: str | None) -> Iterator[None]:
        slot = self.take(owner)
        try:
            yield
        finally:
            slot.release()

    def give_back(self, owner: str | None) -> None:
        self._total -= 1
        if owner is not None:
            self._held[owner] -= 1
            if self._held[owner] <= 0:
                del self._held[owner]

    @property
    def total(self) -> int:
        return self._total
