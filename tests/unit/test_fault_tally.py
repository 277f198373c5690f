"""Counting a fault scenario's jobs: each counted once, in the order that matters."""

from __future__ import annotations

from ops.faults.tally import JobFate, table, tally

DONE = JobFate(status="done", answers=1, finished_at=1_000.0)


def test_each_job_counts_once_with_duplicates_and_dead_letters_first():
    fates = {
        "a": DONE,
        "b": JobFate(status="done", answers=2, finished_at=1_010.0),  # answered twice
        "c": JobFate(status="failed", answers=0, finished_at=1_020.0),  # dead-lettered
        "d": JobFate(status="expired", answers=0, finished_at=1_005.0),
    }
    row = tally("s", "redis", fates, dead={"c"}, other_letters=3, cleared_at=990.0)
    assert (row.published, row.answered_once, row.duplicated, row.dead_lettered, row.failed, row.lost) == (
        4,
        1,
        1,
        1,
        1,
        0,
    )
    assert row.last_final_s == 30.0 and row.other_letters == 3
    assert not row.met  # one answered twice


def test_a_job_not_final_is_lost_and_the_row_never_ends():
    fates = {
        "a": DONE,
        "b": JobFate(status="running", answers=0, finished_at=None),
        "c": JobFate(None, 0, None),
    }
    row = tally("s", "amqp", fates, dead=set(), other_letters=0, cleared_at=0.0)
    assert row.lost == 2 and row.last_final_s is None and not row.met
    assert "| never | no |" in table([row])


def test_the_target_is_two_minutes_after_the_fault_cleared():
    on_time = tally(
        "s", "redis", {"a": JobFate("done", 1, 1_120.0)}, dead=set(), other_letters=0, cleared_at=1_000.0
    )
    late = tally(
        "s", "redis", {"a": JobFate("done", 1, 1_121.0)}, dead=set(), other_letters=0, cleared_at=1_000.0
    )
    assert on_time.met and not late.met
    assert on_time.as_dict()["met"] is True
