"""The tuner's choices, on made-up measurements: the grid, when a batch stops growing, the pick."""

from __future__ import annotations

import pytest

from ops.bench.tuning import Candidate, Trial, choose, keeps_growing, ladders


def trial(
    engine: str,
    size: int,
    jobs_s: float | None,
    p99_ms: float | None,
    wait: float = 20,
    error: str | None = None,
) -> Trial:
    return Trial(Candidate(engine, size, wait, "float32"), jobs_s, p99_ms, error)


def test_static_gets_a_ladder_per_wait_and_vllm_one_ladder():
    found = ladders(["static", "vllm"], [32, 8, 16], [20, 50], "float32")
    assert [(ladder[0].engine, ladder[0].max_wait_ms) for ladder in found] == [
        ("static", 20),
        ("static", 50),
        ("vllm", 20),
    ]
    assert all([c.max_batch_size for c in ladder] == [8, 16, 32] for ladder in found)


@pytest.mark.parametrize(("engines", "sizes"), [(["turbo"], [8]), (["static"], [0]), ([], [8])])
def test_a_bad_grid_is_refused(engines, sizes):
    with pytest.raises(ValueError, match="engines must be"):
        ladders(engines, sizes, [20], "float32")


def test_a_batch_grows_while_it_pays_and_stops_at_oom_or_a_drop():
    assert keeps_growing([trial("static", 8, 2.0, 1), trial("static", 16, 2.9, 1)])
    assert keeps_growing([trial("static", 8, 2.0, 1), trial("static", 16, 1.95, 1)])  # within 5%
    assert not keeps_growing([trial("static", 8, 2.0, 1), trial("static", 16, 1.5, 1)])
    assert not keeps_growing([trial("static", 8, 2.0, 1), trial("static", 16, None, None, error="OOM")])


def test_the_fastest_configuration_that_meets_the_target_wins():
    trials = [trial("static", 8, 2.0, 3000), trial("static", 32, 3.5, 9000), trial("vllm", 16, 3.0, 4000)]
    assert choose(trials, p99_target_ms=5000).trial.candidate == Candidate("vllm", 16, 20, "float32")
    assert choose(trials, p99_target_ms=10_000).trial.candidate.max_batch_size == 32


def test_without_a_target_each_trial_is_held_to_its_own_batch_time():
    # static 32: a full batch takes 32/3.5 s = 9.1 s; 1.5 × (9.1 s + 20 ms) = 13.7 s ≥ 9 s: met
    fast = trial("static", 32, 3.5, 9000)
    assert fast.own_target_ms == pytest.approx(1.5 * (32 / 3.5 * 1000 + 20))
    slow = trial("static", 64, 3.6, 40_000)  # 1.5 × 17.8 s = 26.7 s < 40 s: not met
    assert choose([fast, slow]).trial is fast


def test_when_nothing_meets_the_target_the_lowest_p99_is_offered_and_flagged():
    trials = [
        trial("static", 8, 2.0, 3000),
        trial("static", 16, 2.5, 2500),
        trial("static", 32, None, None, error="out of memory"),
    ]
    picked = choose(trials, p99_target_ms=100)
    assert not picked.met_target and picked.trial.candidate.max_batch_size == 16


def test_nothing_measured_is_an_error():
    with pytest.raises(ValueError, match="no configuration"):
        choose([trial("static", 8, None, None, error="out of memory")])
