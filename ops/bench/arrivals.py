"""Open-loop Poisson arrivals: when each job of a benchmark is sent, decided before it starts."""

from __future__ import annotations

import random


def poisson_schedule(rate: float, duration_s: float, seed: int = 0) -> list[float]:
    """Send times (seconds from the start) of a Poisson process of `rate` jobs/s over `duration_s`.

    Open loop: the schedule does not wait for answers, so a slow system sees its queue grow, as
    it would in production, instead of the load politely slowing down with it.
    """
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be > 0")
    rng = random.Random(seed)
    times: list[float] = []
    now = rng.expovariate(rate)
    while now < duration_s:
        times.append(now)
        now += rng.expovariate(rate)
    return times
