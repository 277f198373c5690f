"""The streaming feeder (vLLM's engine behind it): jobs join the runner while sequence slots are
free, wait in line otherwise (handed back on drain), expired ones never reach it, and a running one
takes its deadline into the engine; and the occupancy meter that reports how many sequences ran
alongside each job."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from core.errors import ConfigurationError, ItemExpired, ItemTooLarge, WorkerDraining
from workers.feeders import ContinuousFeeder, PromptRequest
from workers.occupancy import Occupancy
from workers.runners.base import Generation

ANSWER = Generation("ok", 3, 2, "stop")


class FakeStreamingRunner:
    def __init__(self, size_cap: int = 8, cache_tokens: int | None = 1000) -> None:
        self.submitted: list[tuple[list, int]] = []
        self.deadlines: list[float | None] = []
        self.futures: list[Future[Generation]] = []
        self.closed = False
        self.size_cap = self.max_batch_size = size_cap
        self.cache_tokens = cache_tokens

    def encode(self, messages):
        return messages

    def submit_tokens(self, messages, max_new_tokens, on_text=None, deadline=None):
        self.deadlines.append(deadline)
        return self.submit(messages, max_new_tokens)

    def set_max_batch_size(self, size: int) -> None:
        self.size_cap = self.max_batch_size = size

    def submit(self, messages, max_new_tokens):
        self.submitted.append((messages, max_new_tokens))
        future: Future[Generation] = Future()
        self.futures.append(future)
        return future

    def close(self, timeout=None):
        self.closed = True


def test_each_job_joins_at_once_and_gets_its_own_outcome():
    now = [10.0]
    runner = FakeStreamingRunner()
    feeder = ContinuousFeeder(runner, clock=lambda: now[0])  # type: ignore[arg-type]
    first = feeder.submit(PromptRequest([{"role": "user", "content": "a"}], 8))
    second = feeder.submit(PromptRequest([{"role": "user", "content": "b"}], 32))
    assert [n for _, n in runner.submitted] == [8, 32]
    now[0] = 10.5
    runner.futures[1].set_result(Generation("short", 3, 2, "stop"))
    runner.futures[0].set_exception(RuntimeError("boom"))
    assert second.result(0).value.text == "short" and second.result(0).run_s == pytest.approx(0.5)
    with pytest.raises(RuntimeError, match="boom"):
        first.result(0)


def test_a_job_past_its_deadline_never_reaches_the_model():
    runner = FakeStreamingRunner()
    feeder = ContinuousFeeder(runner, clock=lambda: 100.0)  # type: ignore[arg-type]
    late = feeder.submit(PromptRequest([], 8), deadline=99.0)
    with pytest.raises(ItemExpired):
        late.result(0)
    assert runner.submitted == []
    feeder.close()
    assert runner.closed


def _ask(text: str, max_new: int = 8) -> PromptRequest:
    return PromptRequest([{"role": "user", "content": text}], max_new)


def test_jobs_above_the_cap_wait_and_join_as_sequences_leave():
    now = [0.0]
    runner = FakeStreamingRunner(size_cap=2)
    feeder = ContinuousFeeder(runner, clock=lambda: now[0])  # type: ignore[arg-type]
    batches: list[tuple[int, float]] = []
    feeder.on_batch = lambda size, seconds, _tokens: batches.append((size, seconds))
    futures = [feeder.submit(_ask(str(i))) for i in range(4)]
    # only two run; the others wait in the feeder's line, in order
    assert [m[0]["content"] for m, _ in runner.submitted] == ["0", "1"]
    now[0] = 2.0
    runner.futures[0].set_result(ANSWER)
    assert [m[0]["content"] for m, _ in runner.submitted] == ["0", "1", "2"]
    # the job that waited reports its wait, and two sequences ran alongside the first all along
    now[0] = 3.0
    runner.futures[2].set_result(ANSWER)
    assert futures[2].result(0).wait_s == pytest.approx(2.0) and futures[2].result(0).run_s == 1.0
    assert futures[0].result(0).batch_size == 2
    assert batches == [(2, 2.0), (2, 1.0)]  # health hears of each answer


def test_drain_hands_back_the_waiting_jobs_and_lets_running_ones_finish():
    runner = FakeStreamingRunner(size_cap=1)
    feeder = ContinuousFeeder(runner, clock=lambda: 0.0)  # type: ignore[arg-type]
    running, waiting = feeder.submit(_ask("a")), feeder.submit(_ask("b"))
    assert feeder.drain() == 1
    with pytest.raises(WorkerDraining):
        waiting.result(0)
    with pytest.raises(WorkerDraining):
        feeder.submit(_ask("c"))
    runner.futures[0].set_result(ANSWER)
    assert running.result(0).value == ANSWER and len(runner.submitted) == 1


def test_an_item_over_the_token_budget_is_refused_at_once():
    feeder = ContinuousFeeder(FakeStreamingRunner(cache_tokens=100))  # type: ignore[arg-type]
    with pytest.raises(ItemTooLarge, match="100"):
        feeder.submit(_ask("long"), tokens=101)


def test_only_the_size_changes_live_and_a_raised_cap_lets_waiting_jobs_in():
    runner = FakeStreamingRunner(size_cap=1)
    feeder = ContinuousFeeder(runner, clock=lambda: 0.0)  # type: ignore[arg-type]
    feeder.submit(_ask("a"))
    feeder.submit(_ask("b"))
    with pytest.raises(ConfigurationError, match="max_wait_ms"):
        feeder.change_policy(max_wait_ms=5)
    assert feeder.change_policy(max_batch_size=2).max_batch_size == 2
    assert len(runner.submitted) == 2


def test_a_refusing_runner_fails_the_job_and_frees_its_slot():
    runner = FakeStreamingRunner(size_cap=1)
    outcomes: list[BaseException | None] = []
    feeder = ContinuousFeeder(runner, clock=lambda: 0.0, on_outcome=outcomes.append)  # type: ignore[arg-type]
    runner.submit = lambda *_: (_ for _ in ()).throw(RuntimeError("closed"))  # type: ignore[method-assign]
    first, second = feeder.submit(_ask("a")), feeder.submit(_ask("b"))
    for future in (first, second):
        with pytest.raises(RuntimeError, match="closed"):
            future.result(0)
    assert len(outcomes) == 2


def test_occupancy_is_the_time_weighted_number_in_flight():
    now = [0.0]
    meter = Occupancy(lambda: now[0])
    long_job = meter.enter()  # alone for 1 s, then with another for 1 s, then alone for 2 s
    now[0] = 1.0
    short_job = meter.enter()
    now[0] = 2.0
    assert meter.leave(short_job) == pytest.approx(2.0)
    now[0] = 4.0
    assert meter.leave(long_job) == pytest.approx(5 / 4)
    assert meter.in_flight == 0
    instant = meter.enter()
    assert meter.leave(instant) == 1.0


def test_the_requests_of_one_dead_loop_count_once_to_the_breaker():
    runner = FakeStreamingRunner()
    outcomes: list[BaseException | None] = []
    feeder = ContinuousFeeder(runner, clock=lambda: 0.0, on_outcome=outcomes.append)  # type: ignore[arg-type]
    futures = [feeder.submit(_ask(str(i))) for i in range(3)]
    death = RuntimeError("loop died")  # the runner settles every victim of one death with one error
    for inner in runner.futures:
        inner.set_exception(death)
    assert outcomes == [death]
    assert all(future.exception(0) is death for future in futures)


def test_a_running_job_takes_its_deadline_into_the_engine():
    """The engine aborts a job whose deadline passes while it runs (vLLM: inside the engine)."""
    runner = FakeStreamingRunner()
    feeder = ContinuousFeeder(runner, clock=lambda: 5.0)  # type: ignore[arg-type]
    feeder.submit(PromptRequest([{"role": "user", "content": "a"}], 8), deadline=65.0)
    feeder.submit(PromptRequest([{"role": "user", "content": "b"}], 8))
    assert runner.deadlines == [65.0, None]
