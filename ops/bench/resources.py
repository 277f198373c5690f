"""CPU and memory of the processes a benchmark started, sampled while each run lasts: what a
component costs per job, and whether a process's memory stays flat over a long (soak) run."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

MIB = 1024 * 1024
WARM_UP_FRACTION = 0.1  # memory growth is judged after the first tenth of a run (caches fill)
WARM_UP_MAX_S = 60.0


@dataclass
class _Track:
    process: psutil.Process
    cpu_s: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    at: list[float] = field(default_factory=list)


class ResourceSampler:
    """Samples each named process every `interval_s` on a thread of its own, until stopped."""

    def __init__(self, pids: dict[str, int], interval_s: float = 1.0) -> None:
        self._tracks = {name: _Track(psutil.Process(pid)) for name, pid in pids.items()}
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-resources", daemon=True)

    def __enter__(self) -> ResourceSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        now = time.monotonic()
        for track in self._tracks.values():
            try:
                times, memory = track.process.cpu_times(), track.process.memory_info()
            except psutil.Error:  # it exited; what was sampled stands
                continue
            track.cpu_s.append(times.user + times.system)
            track.rss.append(memory.rss)
            track.at.append(now)

    def report(self) -> dict[str, dict[str, float | None]]:
        """Per process: CPU in cores (1.0 = one core busy), and resident memory in MiB."""
        return {name: _summary(track) for name, track in self._tracks.items() if len(track.at) >= 2}


def _summary(track: _Track) -> dict[str, float | None]:
    span = track.at[-1] - track.at[0]
    settled = _settled_index(track.at)
    start, end = track.rss[settled], track.rss[-1]
    return {
        "cpu_cores": (track.cpu_s[-1] - track.cpu_s[0]) / span if span > 0 else None,
        "rss_mib_start": start / MIB,
        "rss_mib_end": end / MIB,
        "rss_mib_max": max(track.rss) / MIB,
        "rss_growth": end / start - 1 if start else None,
    }


def _settled_index(at: list[float]) -> int:
    """The first sample after the warm-up."""
    warm_up = min(WARM_UP_MAX_S, WARM_UP_FRACTION * (at[-1] - at[0]))
    return next(i for i, stamp in enumerate(at) if stamp - at[0] >= warm_up)
