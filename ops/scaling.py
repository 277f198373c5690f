"""The fleet's scaling rules as a pure policy over metric series (no I/O; the clock is the
series' own and the caller's `now`), from the design source:

- add workers when the load stays above 80% of the measured capacity for 10 minutes (every
  sample of the last 10 minutes above the line, and 10 minutes of samples at all): enough to
  bring the highest recent load down to the target (70%), at least one, at most `max_workers`;
- release 50% of the workers in the off-peak hour (22:00 local), never below `min_workers`, and
  not when the load left would be over the line;
- cool-downs so a signal near the line does not flap: no second scale-up within 10 minutes of
  one, no release within 30 minutes of a scale-up (or of another release).

`load` is demand over capacity: jobs arriving a second over (workers × jobs a worker answers a
second, as `babelq bench` measured it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

Action = Literal["add", "release", "hold"]


@dataclass(frozen=True)
class ScalingRules:
    high_load: float = 0.8
    sustained: timedelta = timedelta(minutes=10)
    target_load: float = 0.7
    offpeak_hour: int = 22
    release_fraction: float = 0.5
    min_workers: int = 1
    max_workers: int = 16
    up_cooldown: timedelta = timedelta(minutes=10)
    down_cooldown: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        if not 0 < self.target_load < self.high_load <= 1.5:
            raise ValueError("need 0 < target_load < high_load <= 1.5")
        if not 1 <= self.min_workers <= self.max_workers:
            raise ValueError("need 1 <= min_workers <= max_workers")
        if not 0 < self.release_fraction < 1 or not 0 <= self.offpeak_hour <= 23:
            raise ValueError("release_fraction must be in (0, 1) and offpeak_hour in 0..23")


@dataclass(frozen=True)
class Sample:
    at: datetime
    load: float


@dataclass(frozen=True)
class LastAction:
    action: Action
    at: datetime


@dataclass(frozen=True)
class Decision:
    action: Action
    workers: int
    reason: str
    load: float | None = None


@dataclass
class ScalingPolicy:
    rules: ScalingRules = field(default_factory=ScalingRules)

    def decide(self, now: datetime, workers: int, samples: list[Sample], last: LastAction | None) -> Decision:
        """What to do now, with `workers` running, the load `samples` (any order) and the last
        action taken. `now` is local time (the off-peak hour is a local hour)."""
        recent = sorted((s for s in samples if s.at > now - self.rules.sustained), key=lambda s: s.at)
        latest = recent[-1].load if recent else None
        up = self._scale_up(now, workers, samples, recent, last)
        if up is not None:
            return up
        release = self._release(now, workers, latest, last)
        if release is not None:
            return release
        return Decision("hold", workers, self._hold_reason(recent, samples, now), latest)

    def _scale_up(
        self,
        now: datetime,
        workers: int,
        samples: list[Sample],
        recent: list[Sample],
        last: LastAction | None,
    ) -> Decision | None:
        rules = self.rules
        covered = any(s.at <= now - rules.sustained for s in samples) and bool(recent)
        if not covered or min(s.load for s in recent) <= rules.high_load:
            return None
        peak = max(s.load for s in recent)
        if workers >= rules.max_workers:
            return Decision(
                "hold",
                workers,
                f"load {peak:.0%} over {rules.high_load:.0%} for "
                f"{_minutes(rules.sustained)}, but already at max {rules.max_workers}",
                peak,
            )
        if _within(last, "add", now, rules.up_cooldown):
            return Decision(
                "hold",
                workers,
                f"load over {rules.high_load:.0%}, but scaled up less than "
                f"{_minutes(rules.up_cooldown)} ago (cool-down)",
                peak,
            )
        wanted = min(rules.max_workers, max(workers + 1, math.ceil(workers * peak / rules.target_load)))
        reason = (
            f"load above {rules.high_load:.0%} of capacity for {_minutes(rules.sustained)} "
            f"(lowest {min(s.load for s in recent):.0%}, highest {peak:.0%}): {workers} → {wanted} "
            f"for {rules.target_load:.0%}"
        )
        return Decision("add", wanted, reason, peak)

    def _release(
        self, now: datetime, workers: int, latest: float | None, last: LastAction | None
    ) -> Decision | None:
        rules = self.rules
        if now.hour != rules.offpeak_hour or workers <= rules.min_workers:
            return None
        if last is not None and last.action in ("add", "release") and now - last.at < rules.down_cooldown:
            return None  # released already this hour, or just scaled up: wait
        wanted = max(rules.min_workers, math.ceil(workers * (1 - rules.release_fraction)))
        if latest is not None and latest * workers / wanted > rules.high_load:
            return Decision(
                "hold",
                workers,
                f"off-peak, but {wanted} workers would run at "
                f"{latest * workers / wanted:.0%} (over {rules.high_load:.0%})",
                latest,
            )
        reason = (
            f"off-peak ({rules.offpeak_hour}:00): release {rules.release_fraction:.0%}, {workers} → {wanted}"
        )
        return Decision("release", wanted, reason, latest)

    def _hold_reason(self, recent: list[Sample], samples: list[Sample], now: datetime) -> str:
        if not any(s.at <= now - self.rules.sustained for s in samples):
            return f"fewer than {_minutes(self.rules.sustained)} of load samples yet"
        if not recent:
            return "no recent load samples"
        line, span = self.rules.high_load, _minutes(self.rules.sustained)
        return f"load {recent[-1].load:.0%} (not above {line:.0%} for {span})"


def _within(last: LastAction | None, action: Action, now: datetime, span: timedelta) -> bool:
    return last is not None and last.action == action and now - last.at < span


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} min"
