"""The worker's circuit breaker around the model (pybreaker), wired to the worker's consumption.

After `fail_max` batches in a row fail through no fault of their input, the breaker opens: the
worker stops consuming (so jobs wait on the broker for healthy workers instead of failing here)
and refuses the jobs it already holds (they go back to the broker untried). After `reset_s` one
trial batch runs (half-open); on success the breaker closes and the worker consumes again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker

from core.errors import BreakerOpen, InvalidInput, ItemExpired, ItemTooLarge, WorkerUnavailable
from workers.backoff import is_out_of_memory

log = logging.getLogger(__name__)
T = TypeVar("T")
StateHook = Callable[[str], None]


def not_the_models_fault(exc: BaseException) -> bool:
    """Failures the breaker must not count: the input's own (too long, malformed, expired), an
    OOM the batch split absorbs, and a worker that is already refusing work."""
    input_faults = (InvalidInput, ItemTooLarge, ItemExpired, WorkerUnavailable)
    return isinstance(exc, input_faults) or is_out_of_memory(exc)


class _StateRelay(pybreaker.CircuitBreakerListener):  # type: ignore[misc]
    def __init__(self, on_change: StateHook) -> None:
        self._on_change = on_change

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        old = old_state.name if old_state is not None else "none"
        log.warning("model breaker %s -> %s after %d failures in a row", old, new_state.name, cb.fail_counter)
        self._on_change(str(new_state.name))


class ModelBreaker:
    """pybreaker.CircuitBreaker with babelq's exclusions; `on_change` hears each new state."""

    def __init__(self, fail_max: int, reset_s: float, on_change: StateHook | None = None) -> None:
        listeners = [_StateRelay(on_change)] if on_change is not None else []
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_s,
            exclude=[not_the_models_fault],
            listeners=listeners,
            throw_new_error_on_trip=False,
            name="model",
        )

    @property
    def state(self) -> str:
        """closed, open or half-open."""
        return str(self._breaker.current_state)

    @property
    def consecutive_failures(self) -> int:
        return int(self._breaker.fail_counter)

    @property
    def is_open(self) -> bool:
        return self.state == pybreaker.STATE_OPEN

    def call(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func` through the breaker; an open breaker raises BreakerOpen without running it."""
        try:
            return self._breaker.call(func, *args)  # type: ignore[no-any-return]
        except pybreaker.CircuitBreakerError as exc:
            raise BreakerOpen(f"the model breaker is open: {exc}") from exc

    def record(self, error: BaseException | None) -> None:
        """Count an outcome that happened outside `call` (a vllm engine's request). Only
        while closed: an outcome that arrives while open is from before it opened, and must not
        stand in for the trial. Faults that are not the model's are not counted at all."""
        if error is not None and not_the_models_fault(error):
            return
        if self.state != pybreaker.STATE_CLOSED:
            return
        with contextlib.suppress(BaseException):  # the caller already has this error; we only count it
            self._breaker.call(_outcome, error)

    def trial_due(self, now: datetime | None = None) -> bool:
        """True when the breaker is open and its reset timeout has passed (time for a trial)."""
        opened_at = self._breaker._state_storage.opened_at  # pybreaker keeps it there, in UTC
        if not self.is_open or opened_at is None:
            return False
        return (now or datetime.now(UTC)) >= opened_at + timedelta(seconds=self._breaker.reset_timeout)

    def trial(self, probe: Callable[[], object]) -> bool:
        """Run one trial batch if one is due; True when it closed the breaker. The probe runs
        outside pybreaker's lock (a model call may wait on threads that report to this breaker)."""
        if not self.trial_due():
            return False
        self._breaker.half_open()
        try:
            probe()
        except Exception as exc:
            log.warning("model breaker trial failed: %s", exc)
            self._breaker.open()
            return False
        self._breaker.close()
        return True


def _outcome(error: BaseException | None) -> None:
    if error is not None:
        raise error
