"""The continuous feeder: jobs go straight to the runner, expired ones never reach it."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from ops.errors import ItemExpired
from workers.feeders import ContinuousFeeder, PromptRequest
from workers.runners.base import Generation


class FakeContinuousRunner:
    def __init__(self) -> None:
        self.submitted: list[tuple[list, int]] = []
        self.futures: list[Future[Generation]] = []
        self.closed = False

    def submit(self, messages, max_new_tokens):
        self.submitted.append((messages, max_new_tokens))
        future: Future[Generation] = Future()
        self.futures.append(future)
        return future

    def close(self, timeout=None):
        self.closed = True


def test_each_job_joins_at_once_and_gets_its_own_outcome():
    now = [10.0]
    runner = FakeContinuousRunner()
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
    runner = FakeContinuousRunner()
    feeder = ContinuousFeeder(runner, clock=lambda: 100.0)  # type: ignore[arg-type]
    late = feeder.submit(PromptRequest([], 8), deadline=99.0)
    with pytest.raises(ItemExpired):
        late.result(0)
    assert runner.submitted == []
    feeder.close()
    assert runner.closed
