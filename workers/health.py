"""A worker's health: what it runs, what it is doing, and a periodic check that also gives an
open breaker its trial batch. `babelq status` reads `snapshot()` through remote control."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from workers.breaker import ModelBreaker
from workers.consumption import ConsumptionSwitch

log = logging.getLogger(__name__)
GpuReader = Callable[[], dict[str, float] | None]


@dataclass(frozen=True)
class ModelFacts:
    """What a worker loaded: shown by `babelq status`, logged at start-up."""

    name: str
    device: str
    dtype: str
    engine: str
    footprint_mib: float | None = None


class Activity:
    """Jobs in flight and the last batch, updated from the task and batcher threads."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.in_flight = 0
        self.batches = 0
        self.last_batch_at: float | None = None
        self.last_batch_size = 0

    def add_in_flight(self, delta: int) -> None:
        with self._lock:
            self.in_flight += delta

    def batch_done(self, size: int, _seconds: float, _tokens: int = 0) -> None:
        with self._lock:
            self.batches += 1
            self.last_batch_at = self._clock()
            self.last_batch_size = size


@dataclass(frozen=True)
class GiveUp:
    """When a worker stops trying its model: after `after_trials` failed breaker trials in a row
    (0: only when its engine is dead), `then` is called (the worker shuts down to be restarted)."""

    after_trials: int
    then: Callable[[], None]


class HealthMonitor:
    """Every `tick_s`: a due breaker trial; every `interval_s`: a health reading, logged."""

    def __init__(
        self,
        facts: ModelFacts,
        breaker: ModelBreaker,
        switch: ConsumptionSwitch,
        activity: Activity,
        probe: Callable[[], object],
        *,
        interval_s: float,
        gpu: GpuReader | None = None,
        tick_s: float = 1.0,
        model_alive: Callable[[], bool] = lambda: True,
        chores: Sequence[Callable[[], object]] = (),
        give_up: GiveUp | None = None,
    ) -> None:
        self.facts, self.breaker, self.switch, self.activity = facts, breaker, switch, activity
        self._model_alive = model_alive  # False: vLLM's engine process died, which never heals
        self._probe = probe
        self._interval_s = interval_s
        self._gpu = gpu
        self._tick_s = min(tick_s, interval_s)
        self._stop = threading.Event()
        self._gpu_reading: dict[str, float] | None = None
        self._checked_at: float | None = None
        self.failed_trials = 0
        self._giving_up = give_up  # None: never give up
        self._chores = tuple(chores)  # run with every health check

    def start(self) -> None:
        threading.Thread(target=self._loop, name="babelq-health", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> dict[str, Any]:
        """Take a reading now (GPU through NVML when there is one) and log it."""
        self._gpu_reading = self._gpu() if self._gpu is not None else None
        self._checked_at = time.time()
        for chore in self._chores:
            try:
                chore()
            except Exception:  # a chore that fails must not stop the health checks
                log.exception("health-check chore %s failed", getattr(chore, "__qualname__", chore))
        snapshot = self.snapshot()
        level = logging.INFO if snapshot["breaker"] == "closed" else logging.WARNING
        log.log(level, "health: %s", _one_line(snapshot))
        return snapshot

    def snapshot(self) -> dict[str, Any]:
        """The latest health facts, as plain JSON-able values."""
        last = self.activity.last_batch_at
        return {
            **asdict(self.facts),
            "model_loaded": self._model_alive(),
            "queues": self.switch.queues,
            "consuming": self.switch.consuming,
            "breaker": self.breaker.state,
            "consecutive_failures": self.breaker.consecutive_failures,
            "in_flight": self.activity.in_flight,
            "batches": self.activity.batches,
            "last_batch_size": self.activity.last_batch_size,
            "last_batch_at": _iso(last),
            "last_batch_age_s": None if last is None else time.time() - last,
            "gpu": self._gpu_reading,
            "checked_at": _iso(self._checked_at),
        }

    def _loop(self) -> None:
        next_check = time.monotonic()
        while not self._stop.wait(self._tick_s):
            if self.breaker.is_open and not self._model_alive():
                # vLLM's engine process died: no trial can revive it, so do not wait for one
                self._give_up("the model's engine is dead")
                return
            if self.breaker.trial_due() and not self._run_trial():
                return
            if time.monotonic() >= next_check:
                self.check()
                next_check = time.monotonic() + self._interval_s

    def _run_trial(self) -> bool:
        """One trial; False when this was the last one allowed (the worker gives up and exits,
        so that a supervisor starts it afresh: a broken CUDA context does not heal in-process)."""
        self.failed_trials = 0 if self.breaker.trial(self._probe) else self.failed_trials + 1
        limit = self._giving_up.after_trials if self._giving_up is not None else 0
        if limit and self.failed_trials >= limit:
            self._give_up(f"{self.failed_trials} trials failed in a row")
            return False
        return True

    def _give_up(self, why: str) -> None:
        log.error("model breaker: %s; the worker gives up", why)
        if self._giving_up is not None:
            self._giving_up.then()


def _iso(stamp: float | None) -> str | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat()


def _one_line(snapshot: dict[str, Any]) -> str:
    keys = ("device", "dtype", "breaker", "consecutive_failures", "in_flight", "consuming", "gpu")
    return " ".join(f"{key}={snapshot[key]}" for key in keys)
