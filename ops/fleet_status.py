"""`babelq status`: the fleet as a table, from the workers' health snapshots."""

from __future__ import annotations

from typing import Any

from rich.table import Table

COLUMNS = ("worker", "queues", "device", "dtype", "breaker", "fails", "in-flight", "last batch", "gpu")


def status_rows(replies: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per worker, sorted by name; replies are Celery's [{node: snapshot}, …]."""
    rows = [_row(node, snapshot) for reply in replies for node, snapshot in reply.items()]
    return sorted(rows)


def status_table(replies: list[dict[str, Any]]) -> Table:
    table = Table(*COLUMNS, title=f"babelq fleet: {sum(len(r) for r in replies)} worker(s)")
    for row in status_rows(replies):
        table.add_row(*row)
    return table


def _row(node: str, snapshot: dict[str, Any]) -> tuple[str, ...]:
    if "error" in snapshot:
        return (node, "-", "-", "-", "-", "-", "-", "-", str(snapshot["error"]))
    queues = ",".join(snapshot["queues"]) + ("" if snapshot["consuming"] else " (paused)")
    return (
        node,
        queues,
        snapshot["device"],
        snapshot["dtype"],
        snapshot["breaker"],
        str(snapshot["consecutive_failures"]),
        str(snapshot["in_flight"]),
        _age(snapshot["last_batch_age_s"], snapshot["last_batch_size"]),
        _gpu(snapshot["gpu"]),
    )


def _age(age_s: float | None, size: int) -> str:
    return "never" if age_s is None else f"{age_s:.0f}s ago ({size})"


def _gpu(reading: dict[str, float] | None) -> str:
    if not reading:
        return "-"
    used, total = reading["gpu_memory_used_mib"], reading["gpu_memory_total_mib"]
    return f"{reading['gpu_util_pct']:.0f}% {used:.0f}/{total:.0f} MiB"
