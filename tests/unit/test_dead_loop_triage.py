"""Which requests of a dead continuous-batching loop run again (pure: no torch, no threads)."""

from __future__ import annotations

from workers.backoff import SizeCap, triage_dead_loop

OOM = MemoryError("no room")


def test_any_other_error_fails_what_ran_and_keeps_the_parked_and_the_cap():
    cap = SizeCap(8)
    assert triage_dead_loop(["a", "b"], ["p"], RuntimeError("device lost"), cap) == (["p"], ["a", "b"])
    assert cap.current == 8


def test_an_oom_runs_everyone_again_under_half_the_sequences_that_ran():
    cap = SizeCap(8)
    again, failed = triage_dead_loop(["a", "b", "c", "d", "e", "f"], ["p"], OOM, cap)
    assert (again, failed) == (["a", "b", "c", "d", "e", "f", "p"], [])
    assert cap.current == 3
    # more requests than the cap: only the cap's worth can have been running
    triage_dead_loop(["a", "b", "c", "d", "e", "f"], [], OOM, cap)
    assert cap.current == 1


def test_the_oldest_request_fails_alone_once_it_ran_alone():
    cap = SizeCap(4)
    cap.shrink(2)  # now 1
    assert triage_dead_loop(["old", "new"], ["p"], OOM, cap) == (["new", "p"], ["old"])
    assert cap.current == 1


def test_a_loop_with_nothing_running_leaves_the_cap_alone():
    cap = SizeCap(8)
    assert triage_dead_loop([], ["p"], OOM, cap) == (["p"], [])
    assert cap.current == 8
