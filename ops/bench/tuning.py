"""Choosing a profile by measurement: the sweep's grid, when to stop growing a batch, and the
pick — the most jobs/s among the configurations whose P99 at half load meets the target.

Pure code: the measuring lives in ops/bench/tune.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ENGINES = ("static", "vllm")
# Growing the batch further stops paying once throughput falls this far below the best so far.
PLATEAU_TOLERANCE = 0.05


@dataclass(frozen=True)
class Candidate:
    """One configuration of a profile to measure."""

    engine: str
    max_batch_size: int
    max_wait_ms: float
    dtype: str


@dataclass(frozen=True)
class Trial:
    """A candidate's measurements: jobs/s at saturation and P99 at half that load (or an error)."""

    candidate: Candidate
    jobs_s: float | None
    p99_ms: float | None
    error: str | None = None

    @property
    def own_target_ms(self) -> float | None:
        """1.5 × (one full batch's service time + max wait): what a user may expect at half load."""
        if not self.jobs_s:
            return None
        return 1.5 * (self.candidate.max_batch_size / self.jobs_s * 1000.0 + self.candidate.max_wait_ms)

    def meets(self, p99_target_ms: float | None) -> bool:
        target = p99_target_ms if p99_target_ms is not None else self.own_target_ms
        return self.error is None and self.p99_ms is not None and target is not None and self.p99_ms <= target


@dataclass(frozen=True)
class Choice:
    """The pick, and whether it met the latency target (else: the lowest P99 there was)."""

    trial: Trial
    met_target: bool


def ladders(
    engines: Sequence[str], batch_sizes: Sequence[int], waits_ms: Sequence[float], dtype: str
) -> list[list[Candidate]]:
    """One ladder per (engine, wait): batch sizes in increasing order. The vllm engine takes no
    max wait (requests join the running batch), so it gets one ladder at the first wait."""
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown or not engines or not batch_sizes or not waits_ms or min(batch_sizes) < 1:
        raise ValueError(f"engines must be among {ENGINES} and batch sizes >= 1 (unknown: {unknown})")
    sizes = sorted(set(batch_sizes))
    result = []
    for engine in engines:
        for wait in waits_ms if engine == "static" else waits_ms[:1]:
            result.append([Candidate(engine, size, wait, dtype) for size in sizes])
    return result


def keeps_growing(trials_so_far: Sequence[Trial]) -> bool:
    """Climb the ladder while the last step ran and stayed within the tolerance of the best."""
    last = trials_so_far[-1]
    if last.error is not None or last.jobs_s is None:
        return False  # out of memory (or broken): larger batches will not fit either
    best = max(t.jobs_s or 0.0 for t in trials_so_far)
    return last.jobs_s >= best * (1 - PLATEAU_TOLERANCE)


def choose(trials: Sequence[Trial], p99_target_ms: float | None = None) -> Choice:
    """The most jobs/s among trials meeting the target; if none does, the lowest P99 measured."""
    meeting = [t for t in trials if t.meets(p99_target_ms)]
    if meeting:
        return Choice(max(meeting, key=lambda t: (t.jobs_s or 0.0, -(t.p99_ms or 0.0))), True)
    ran = [t for t in trials if t.error is None and t.p99_ms is not None]
    if not ran:
        raise ValueError("no configuration could be measured")
    return Choice(min(ran, key=lambda t: t.p99_ms or 0.0), False)
