"""`babelq tune`'s sweep as a table: one row per measured configuration, the pick marked."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def tune_table(result: dict[str, Any]) -> Table:
    table = Table(title=f"babelq tune on {result['device']} ({result['jobs_per_trial']} jobs a trial)")
    for column in ("engine", "batch", "wait ms", "dtype", "jobs/s", "P99 ms at half load", "target ms", ""):
        table.add_column(column, justify="right" if column not in ("engine", "dtype", "") else "left")
    for trial in result["trials"]:
        c = trial["candidate"]
        target = result["p99_target_ms"] or trial["own_target_ms"]
        mark = "← chosen" if c == result["chosen"] else (trial["error"] or "")
        table.add_row(
            c["engine"],
            str(c["max_batch_size"]),
            f"{c['max_wait_ms']:g}",
            c["dtype"],
            _num(trial["jobs_s"], 2),
            _num(trial["p99_ms"], 0),
            _num(target, 0),
            mark,
        )
    return table


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
