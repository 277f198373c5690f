"""`babelq scale`'s policy on synthetic series: a sustained rise adds workers, a short spike does
not, the 22:00 release halves the fleet (never below the minimum), a flapping signal does not
make the fleet flap."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ops.scaling import LastAction, Sample, ScalingPolicy, ScalingRules

NOON = datetime(2026, 11, 30, 12, 0)
policy = ScalingPolicy(ScalingRules(min_workers=2, max_workers=16))


def series(loads: list[float], end: datetime = NOON, step: timedelta = timedelta(minutes=1)) -> list[Sample]:
    """One sample a minute, the last at `end`."""
    return [Sample(end - step * (len(loads) - 1 - i), load) for i, load in enumerate(loads)]


def test_load_above_the_line_for_ten_minutes_adds_workers_to_bring_it_to_the_target():
    decision = policy.decide(
        NOON, 4, series([0.5] * 5 + [0.85, 0.9, 0.95, 0.9, 0.88, 0.92, 0.9, 0.86, 0.9, 0.93, 0.9]), None
    )
    assert decision.action == "add"
    assert decision.workers == 6  # ceil(4 x 0.95 / 0.7)
    assert "10 min" in decision.reason


def test_a_short_spike_does_not_scale():
    loads = [0.5] * 10 + [1.2, 1.3, 1.1] + [0.6] * 3
    assert policy.decide(NOON, 4, series(loads), None).action == "hold"


def test_a_sustained_rise_with_one_dip_under_the_line_does_not_scale_yet():
    loads = [0.9] * 6 + [0.79] + [0.9] * 9
    assert policy.decide(NOON, 4, series(loads), None).action == "hold"


def test_without_ten_minutes_of_samples_nothing_is_decided():
    decision = policy.decide(NOON, 4, series([0.99] * 5), None)
    assert decision.action == "hold" and "fewer than 10 min" in decision.reason


def test_scale_up_is_capped_at_the_maximum():
    decision = policy.decide(NOON, 15, series([1.4] * 12), None)
    assert (decision.action, decision.workers) == ("add", 16)
    assert policy.decide(NOON, 16, series([1.4] * 12), None).action == "hold"


def test_the_offpeak_hour_releases_half_never_below_the_minimum():
    at_ten = NOON.replace(hour=22, minute=5)
    decision = policy.decide(at_ten, 8, series([0.2] * 12, end=at_ten), None)
    assert (decision.action, decision.workers) == ("release", 4)
    assert policy.decide(at_ten, 3, series([0.1] * 12, end=at_ten), None).workers == 2  # ceil(1.5)=2 = min
    assert policy.decide(at_ten, 2, series([0.1] * 12, end=at_ten), None).action == "hold"


def test_the_release_happens_once_an_evening():
    at_ten = NOON.replace(hour=22, minute=30)
    released = LastAction("release", at_ten - timedelta(minutes=25))
    assert policy.decide(at_ten, 4, series([0.1] * 12, end=at_ten), released).action == "hold"


def test_no_release_when_the_workers_left_would_be_overloaded():
    at_ten = NOON.replace(hour=22)
    decision = policy.decide(at_ten, 8, series([0.6] * 12, end=at_ten), None)
    assert decision.action == "hold" and "would run at 120%" in decision.reason


def test_a_flapping_signal_does_not_flap_the_fleet():
    """Load hovering at the line for an hour: at most one scale-up per cool-down, never a release
    outside the off-peak hour, whatever the order of the readings."""
    loads = [0.85, 0.75] * 30
    start = NOON - timedelta(minutes=60)
    workers, last, actions = 4, None, []
    for minute in range(60):
        now = start + timedelta(minutes=minute)
        window = [Sample(start + timedelta(minutes=i), loads[i]) for i in range(minute + 1)]
        decision = policy.decide(now, workers, window, last)
        if decision.action != "hold":
            actions.append((minute, decision.action))
            workers, last = decision.workers, LastAction(decision.action, now)
    assert actions == []


def test_a_second_scale_up_waits_for_the_cool_down():
    rising = series([0.95] * 12)
    just_added = LastAction("add", NOON - timedelta(minutes=4))
    decision = policy.decide(NOON, 6, rising, just_added)
    assert decision.action == "hold" and "cool-down" in decision.reason
    assert policy.decide(NOON, 6, rising, LastAction("add", NOON - timedelta(minutes=11))).action == "add"


BAD_RULES = [
    {"target_load": 0.9},
    {"min_workers": 0},
    {"min_workers": 5, "max_workers": 4},
    {"release_fraction": 1.0},
    {"offpeak_hour": 24},
]


@pytest.mark.parametrize("bad", BAD_RULES)
def test_rules_that_cannot_work_are_refused(bad):
    with pytest.raises(ValueError):
        ScalingRules(**bad)
