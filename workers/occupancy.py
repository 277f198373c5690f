"""How many sequences ran alongside a request, on average over its life: pure, clock injected.

Continuous batching has no batch to report: sequences join and leave one by one. What matters for
the bench (batch size, model busy time) is the time-weighted number of requests in flight while a
given request ran, itself included: the integral of the in-flight count over its life, divided by
its length.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Occupancy:
    """Keeps the running integral of the in-flight count; thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._area = 0.0
        self._since = clock()

    def enter(self) -> tuple[float, float]:
        """A request starts: returns its mark (start time, integral so far) for `leave`."""
        with self._lock:
            now = self._advance()
            self._in_flight += 1
            return now, self._area

    def leave(self, mark: tuple[float, float]) -> float:
        """A request ends: the mean in-flight count over its life (at least 1)."""
        started, area_then = mark
        with self._lock:
            now = self._advance()
            self._in_flight = max(0, self._in_flight - 1)
            area = self._area
        if now <= started:
            return 1.0
        return max(1.0, (area - area_then) / (now - started))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _advance(self) -> float:
        now = self._clock()
        self._area += self._in_flight * (now - self._since)
        self._since = now
        return now
