"""The batcher, driven by an injected clock: given / when / expect."""

from __future__ import annotations

import threading

import pytest

from ops.errors import BatcherClosed, BatchResultMismatch, ConfigurationError, ItemTooLarge
from workers.batcher import Batcher, BatchPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def doubling(items: list[int]) -> list[int]:
    return [i * 2 for i in items]


def test_policy_refuses_nonsense_at_construction():
    with pytest.raises(ConfigurationError, match="max_batch_size"):
        BatchPolicy(0, 10)
    with pytest.raises(ConfigurationError, match="max_wait_ms"):
        BatchPolicy(4, -1)
    with pytest.raises(ConfigurationError, match="max_batch_tokens"):
        BatchPolicy(4, 10, 0)


def test_full_batch_runs_without_waiting():
    clock = FakeClock()
    batches: list[list[int]] = []
    batcher = Batcher(BatchPolicy(3, 1000), lambda xs: batches.append(xs) or doubling(xs), clock)
    futures = [batcher.submit(i) for i in range(3)]
    assert batcher.step() == 3
    assert batches == [[0, 1, 2]]
    assert [f.result(0).value for f in futures] == [0, 2, 4]
    assert all(f.result(0).batch_size == 3 for f in futures)


def test_partial_batch_waits_for_max_wait_then_flushes():
    clock = FakeClock()
    batcher = Batcher(BatchPolicy(8, 50), doubling, clock)
    future = batcher.submit(5)
    clock.advance(0.049)
    assert batcher.step() == 0 and not future.done()
    clock.advance(0.002)
    assert batcher.step() == 1
    result = future.result(0)
    assert result.value == 10 and result.batch_size == 1
    assert result.wait_s == pytest.approx(0.051)


def test_token_budget_splits_batches_and_refuses_an_oversized_item():
    clock = FakeClock()
    seen: list[list[int]] = []
    batcher = Batcher(
        BatchPolicy(8, 0, max_batch_tokens=100), lambda xs: seen.append(xs) or doubling(xs), clock
    )
    for i in range(3):
        batcher.submit(i, tokens=40)
    while batcher.step():
        pass
    assert seen == [[0, 1], [2]]
    with pytest.raises(ItemTooLarge, match="101 tokens"):
        batcher.submit(9, tokens=101)


def test_an_exception_reaches_every_item_of_its_batch_only():
    clock = FakeClock()
    calls = {"n": 0}

    def flaky(xs: list[int]) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("model exploded")
        return doubling(xs)

    batcher = Batcher(BatchPolicy(2, 0), flaky, clock)
    first = [batcher.submit(i) for i in range(2)]
    second = [batcher.submit(i) for i in range(2, 4)]
    batcher.step()
    batcher.step()
    for f in first:
        with pytest.raises(RuntimeError, match="model exploded"):
            f.result(0)
    assert [f.result(0).value for f in second] == [4, 6]


def test_wrong_number_of_results_is_an_error_for_every_item():
    batcher = Batcher(BatchPolicy(2, 0), lambda xs: [1], FakeClock())
    futures = [batcher.submit(i) for i in range(2)]
    batcher.step()
    for f in futures:
        with pytest.raises(BatchResultMismatch, match="batch of 2 returned 1"):
            f.result(0)


def test_per_item_exceptions_in_results_fail_only_that_item():
    batcher = Batcher(BatchPolicy(2, 0), lambda xs: [ValueError("bad item"), 7], FakeClock())
    bad, good = batcher.submit(1), batcher.submit(2)
    batcher.step()
    with pytest.raises(ValueError, match="bad item"):
        bad.result(0)
    assert good.result(0).value == 7


def test_many_threads_submitting_each_get_their_own_answer():
    batch_sizes: list[int] = []
    batcher = Batcher(BatchPolicy(8, 5), lambda xs: batch_sizes.append(len(xs)) or doubling(xs))
    batcher.start()
    results: dict[int, int] = {}

    def submitter(base: int) -> None:
        for i in range(base, base + 25):
            results[i] = batcher.submit(i).result(timeout=10).value

    threads = [threading.Thread(target=submitter, args=(k * 100,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close(timeout=5)
    assert results == {i: i * 2 for k in range(8) for i in range(k * 100, k * 100 + 25)}
    assert sum(batch_sizes) == 200 and max(batch_sizes) <= 8


def test_close_runs_pending_items_and_refuses_new_ones():
    batcher = Batcher(BatchPolicy(8, 10_000), doubling)
    batcher.start()
    future = batcher.submit(21)
    batcher.close(timeout=5)
    assert future.result(0).value == 42
    with pytest.raises(BatcherClosed):
        batcher.submit(1)
