"""What became of a scenario's jobs: one row of the fault table. Pure: the harness reads the
store and the dead-letter queue, this counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

FINAL = frozenset({"done", "failed", "expired"})
TARGET_S = 120.0  # every job final within 2 minutes of the fault clearing


@dataclass(frozen=True)
class JobFate:
    status: str | None  # None: the store does not have it
    answers: int  # assistant turns stored for it
    finished_at: float | None  # epoch seconds


@dataclass(frozen=True)
class Row:
    scenario: str
    broker: str
    published: int
    answered_once: int
    duplicated: int
    failed: int
    dead_lettered: int
    lost: int
    other_letters: int  # dead letters that are no job of the load (the bad messages it sent)
    last_final_s: float | None  # seconds from the fault clearing to the last job's end
    note: str = ""

    @property
    def met(self) -> bool:
        """The target: nothing lost, nothing answered twice, all final within TARGET_S."""
        in_time = self.last_final_s is not None and self.last_final_s <= TARGET_S
        return self.lost == 0 and self.duplicated == 0 and in_time

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def tally(
    scenario: str,
    broker: str,
    fates: Mapping[str, JobFate],
    *,
    dead: set[str],
    other_letters: int,
    cleared_at: float,
    note: str = "",
) -> Row:
    """Count each published job once: answered twice, dead-lettered, answered once, failed or
    expired, else lost (not final when the scenario ended)."""
    counts = {"duplicated": 0, "dead_lettered": 0, "answered_once": 0, "failed": 0, "lost": 0}
    for job_id, fate in fates.items():
        counts[_fate(job_id, fate, dead)] += 1
    return Row(
        scenario=scenario,
        broker=broker,
        published=len(fates),
        other_letters=other_letters,
        last_final_s=_last_final_s(fates.values(), cleared_at),
        note=note,
        **counts,
    )


def _fate(job_id: str, fate: JobFate, dead: set[str]) -> str:
    if fate.answers > 1:
        return "duplicated"
    if job_id in dead:
        return "dead_lettered"
    if fate.status == "done" and fate.answers == 1:
        return "answered_once"
    if fate.status in FINAL:
        return "failed"
    return "lost"


def _last_final_s(fates: Iterable[JobFate], cleared_at: float) -> float | None:
    """None when some job never ended; else how long after the fault cleared the last one did."""
    ends = [fate.finished_at if fate.status in FINAL else None for fate in fates]
    if not ends or any(end is None for end in ends):
        return None
    return round(max(0.0, max(end for end in ends if end is not None) - cleared_at), 1)


COLUMNS = (
    "scenario",
    "broker",
    "published",
    "answered_once",
    "duplicated",
    "failed",
    "dead_lettered",
    "lost",
    "other_letters",
    "last_final_s",
    "met",
)


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (what `babelq faults` prints and the README shows)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = row.as_dict()
        lines.append("| " + " | ".join(_cell(cells[name]) for name in COLUMNS) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "never"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
