"""`babelq top`: a live glance at the fleet, as Flower and nvidia-smi users expect one. Per queue:
depth (ready, unacked), jobs ended a minute and their latency percentiles (from the store); per
worker: breaker, jobs in flight, GPU (from the workers' health snapshots)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table

from persistence.views import Finished
from transport.queue_depth import Depth

QUEUE_COLUMNS = ("queue", "ready", "unacked", "done/min", "failed/min", "p50", "p99")


@dataclass(frozen=True)
class QueueRow:
    queue: str
    ready: int | None
    unacked: int | None
    done_per_min: float
    failed_per_min: float
    p50_s: float | None
    p99_s: float | None


def queue_rows(depths: Sequence[Depth], finished: Sequence[Finished], window_s: float) -> list[QueueRow]:
    """One row per queue: its depth, and what ended in the last `window_s` seconds."""
    per_minute = 60.0 / window_s
    rows = []
    for depth in depths:
        ended = [f for f in finished if f.queue == depth.queue]
        seconds = sorted(f.seconds for f in ended if f.status == "done")
        failed = sum(1 for f in ended if f.status != "done")
        rows.append(
            QueueRow(
                depth.queue,
                depth.ready,
                depth.unacked,
                len(seconds) * per_minute,
                failed * per_minute,
                _percentile(seconds, 0.50),
                _percentile(seconds, 0.99),
            )
        )
    return rows


def _percentile(ordered: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile of an ordered list; None for an empty one."""
    if not ordered:
        return None
    rank = max(1, int(-(-share * len(ordered) // 1)))  # ceil(share * n), at least 1
    return ordered[min(rank, len(ordered)) - 1]


def queue_table(rows: Sequence[QueueRow], window_s: float) -> Table:
    table = Table(*QUEUE_COLUMNS, title=f"queues (ended in the last {window_s:.0f} s)")
    for row in rows:
        table.add_row(
            row.queue,
            _count(row.ready),
            _count(row.unacked),
            f"{row.done_per_min:.1f}",
            f"{row.failed_per_min:.1f}",
            _duration(row.p50_s),
            _duration(row.p99_s),
        )
    return table


def top_view(queues: Table, fleet: Table | str) -> Group:
    return Group(queues, fleet)


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
