"""The model breaker (pybreaker with babelq's rules) and the consumption switch it drives."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import BreakerOpen, InvalidInput, ItemTooLarge, WorkerDraining
from workers.breaker import ModelBreaker
from workers.consumption import ConsumptionSwitch


class Broken(RuntimeError):
    pass


def _fail() -> None:
    raise Broken("device lost")


def _fail_n(breaker: ModelBreaker, n: int) -> None:
    for _ in range(n):
        with pytest.raises(Broken):  # the caller sees the model's own error, even on the trip
            breaker.call(_fail)


def test_opens_after_fail_max_model_failures_in_a_row_and_refuses_without_running():
    states: list[str] = []
    breaker = ModelBreaker(fail_max=5, reset_s=30, on_change=states.append)
    _fail_n(breaker, 4)
    assert breaker.state == "closed" and breaker.consecutive_failures == 4
    _fail_n(breaker, 1)
    assert breaker.is_open and states == ["open"]
    ran = []
    with pytest.raises(BreakerOpen):
        breaker.call(lambda: ran.append(1))
    assert ran == []


def test_a_success_resets_the_count():
    breaker = ModelBreaker(fail_max=3, reset_s=30)
    _fail_n(breaker, 2)
    assert breaker.call(lambda: "ok") == "ok"
    _fail_n(breaker, 2)
    assert breaker.state == "closed"


@pytest.mark.parametrize(
    "error",
    [ItemTooLarge("too long"), InvalidInput("bad"), WorkerDraining("bye"), MemoryError("split me")],
    ids=["too-large", "invalid", "draining", "oom"],
)
def test_the_inputs_faults_and_absorbed_ooms_are_not_counted(error: BaseException):
    breaker = ModelBreaker(fail_max=2, reset_s=30)

    def raise_it() -> None:
        raise error

    for _ in range(5):
        with pytest.raises(type(error)):
            breaker.call(raise_it)
    assert breaker.state == "closed" and breaker.consecutive_failures == 0


def test_a_trial_waits_for_the_reset_timeout_and_closes_on_success():
    states: list[str] = []
    breaker = ModelBreaker(fail_max=1, reset_s=0.2, on_change=states.append)
    _fail_n(breaker, 1)
    assert not breaker.trial_due()
    assert breaker.trial(lambda: None) is False and breaker.is_open  # too early: not even tried
    assert breaker.trial_due(datetime.now(UTC) + timedelta(seconds=1))
    time.sleep(0.25)
    assert breaker.trial(_fail) is False and breaker.is_open  # failed trial: open again, clock restarts
    assert not breaker.trial_due()
    time.sleep(0.25)
    assert breaker.trial(lambda: None) is True
    assert breaker.state == "closed" and states == ["open", "half-open", "open", "half-open", "closed"]


def test_record_counts_outcomes_seen_elsewhere():
    breaker = ModelBreaker(fail_max=2, reset_s=30)
    breaker.record(Broken("1"))
    breaker.record(None)
    breaker.record(Broken("2"))
    assert breaker.state == "closed"
    breaker.record(Broken("3"))
    assert breaker.is_open


class FakeConsumer:
    """Records what the switch asks Celery's consumer loop to do (call_soon is its thread-safe door)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def call_soon(self, action, queue: str) -> None:
        self.calls.append((action.__name__, queue))

    def add_task_queue(self, queue: str) -> None: ...

    def cancel_task_queue(self, queue: str) -> None: ...


def test_switch_cancels_and_re_adds_every_queue_once_per_change():
    switch = ConsumptionSwitch(["chat.en", "chat.fallback"])
    consumer = FakeConsumer()
    switch.attach(consumer)
    switch.pause()
    switch.pause()
    assert not switch.consuming
    switch.resume()
    assert switch.consuming
    assert consumer.calls == [
        ("cancel_task_queue", "chat.en"),
        ("cancel_task_queue", "chat.fallback"),
        ("add_task_queue", "chat.en"),
        ("add_task_queue", "chat.fallback"),
    ]


def test_record_ignores_outcomes_while_open_and_faults_that_are_not_the_models():
    breaker = ModelBreaker(fail_max=2, reset_s=0.01)
    breaker.record(Broken("1"))
    breaker.record(ItemTooLarge("the input's fault"))  # neither counted nor a success
    assert breaker.consecutive_failures == 1
    breaker.record(Broken("2"))
    assert breaker.is_open
    time.sleep(0.02)
    breaker.record(None)  # a late success from before it opened: not a trial
    assert breaker.is_open


def test_a_trial_holds_no_lock_while_the_probe_runs():
    breaker = ModelBreaker(fail_max=1, reset_s=0.01)
    breaker.record(Broken("1"))
    time.sleep(0.02)

    def probe_that_reports_from_another_thread() -> None:
        import threading

        reporter = threading.Thread(target=breaker.record, args=(None,))
        reporter.start()
        reporter.join(2)
        assert not reporter.is_alive()  # would deadlock if the probe ran under pybreaker's lock

    assert breaker.trial(probe_that_reports_from_another_thread) is True
