"""The batcher, driven by an injected clock: given / when / expect."""

from __future__ import annotations

import threading

import pytest

from core.errors import (
    BatcherClosed,
    BatchResultMismatch,
    BreakerOpen,
    ConfigurationError,
    FailedAlone,
    ItemExpired,
    ItemTooLarge,
    WorkerDraining,
)
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


def test_a_batch_that_failed_once_is_run_again_in_halves_and_the_next_batch_is_untouched():
    clock = FakeClock()
    calls: list[list[int]] = []

    def flaky(xs: list[int]) -> list[int]:
        calls.append(xs)
        if len(calls) == 1:
            raise RuntimeError("model exploded")
        return doubling(xs)

    batcher = Batcher(BatchPolicy(2, 0), flaky, clock)
    first = [batcher.submit(i) for i in range(2)]
    second = [batcher.submit(i) for i in range(2, 4)]
    batcher.step()
    batcher.step()
    assert [f.result(0).value for f in first + second] == [0, 2, 4, 6]
    assert calls == [[0, 1], [0], [1], [2, 3]]


def test_a_poison_item_fails_alone_and_its_batch_mates_are_answered():
    clock = FakeClock()
    calls: list[list[int]] = []

    def poisoned(xs: list[int]) -> list[int]:
        calls.append(xs)
        if 5 in xs:
            raise RuntimeError("CUDA error: device-side assert")
        return doubling(xs)

    batcher = Batcher(BatchPolicy(8, 0), poisoned, clock)
    futures = [batcher.submit(i) for i in range(8)]
    batcher.step()
    # blamed on its own input (its batch-mates succeeded), the device's error kept as the cause
    error = futures[5].exception(0)
    assert isinstance(error, FailedAlone) and isinstance(error.__cause__, RuntimeError)
    assert [f.result(0).value for i, f in enumerate(futures) if i != 5] == [0, 2, 4, 6, 8, 12, 14]
    assert len(calls) == 1 + 2 * 3  # both halves at each of log2(8) levels
    failed = ["fail" if 5 in c else "ok" for c in calls]
    assert "fail, fail, fail" not in ", ".join(failed)  # never three failures in a row (the breaker)


def test_a_batch_that_always_fails_gives_every_item_the_error():
    clock = FakeClock()
    calls: list[int] = []

    def broken(xs: list[int]) -> list[int]:
        calls.append(len(xs))
        raise RuntimeError("device lost")

    batcher = Batcher(BatchPolicy(4, 0), broken, clock)
    futures = [batcher.submit(i) for i in range(4)]
    batcher.step()
    assert calls == [4, 2, 2, 1, 1, 1, 1]  # the model breaker bounds this on a real worker
    assert all(isinstance(f.exception(0), RuntimeError) for f in futures)


def test_a_worker_that_refuses_work_does_not_split_the_batch():
    calls: list[int] = []

    def refusing(xs: list[int]) -> list[int]:
        calls.append(len(xs))
        raise BreakerOpen("the model breaker is open")

    batcher = Batcher(BatchPolicy(4, 0), refusing, FakeClock())
    futures = [batcher.submit(i) for i in range(4)]
    batcher.step()
    assert calls == [4]
    assert all(isinstance(f.exception(0), BreakerOpen) for f in futures)


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


def test_batches_group_items_of_similar_length_around_the_oldest():
    clock = FakeClock()
    seen: list[list[int]] = []
    batcher = Batcher(BatchPolicy(3, 0), lambda xs: seen.append(xs) or doubling(xs), clock)
    for tokens in (50, 900, 60, 880, 55, 910):
        batcher.submit(tokens, tokens=tokens)
    while batcher.step():
        pass
    assert seen == [[50, 55, 60], [900, 910, 880]]


def test_padded_cost_never_exceeds_the_token_budget():
    clock = FakeClock()
    seen: list[list[int]] = []
    batcher = Batcher(
        BatchPolicy(8, 0, max_batch_tokens=300), lambda xs: seen.append(xs) or doubling(xs), clock
    )
    for tokens in (100, 10, 10, 10, 150):
        batcher.submit(tokens, tokens=tokens)
    while batcher.step():
        pass
    assert all(len(batch) * max(batch) <= 300 for batch in seen)
    assert sorted(x for batch in seen for x in batch) == [10, 10, 10, 100, 150]


def test_an_item_past_its_deadline_is_not_run_and_gets_expired():
    clock = FakeClock()
    ran: list[int] = []
    batcher = Batcher(BatchPolicy(8, 1000), lambda xs: ran.extend(xs) or doubling(xs), clock)
    late = batcher.submit(1, deadline=clock.now + 0.01)
    clock.advance(0.02)
    on_time = batcher.submit(2)
    batcher.step()
    with pytest.raises(ItemExpired):
        late.result(0)
    assert not on_time.done() and ran == []
    clock.advance(1.0)
    batcher.step()
    assert on_time.result(0).value == 4 and ran == [2]


def test_policy_changes_at_run_time_apply_to_pending_items():
    clock = FakeClock()
    batcher = Batcher(BatchPolicy(8, 10_000), doubling, clock)
    futures = [batcher.submit(i) for i in range(2)]
    assert batcher.step() == 0
    batcher.set_policy(BatchPolicy(2, 10_000))
    assert batcher.step() == 2
    assert [f.result(0).value for f in futures] == [0, 2]


class OomAbove:
    """A runner that runs out of memory for batches larger than `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sizes: list[int] = []

    def __call__(self, xs: list[int]) -> list[int]:
        self.sizes.append(len(xs))
        if len(xs) > self.limit:
            raise MemoryError(f"batch of {len(xs)} does not fit")
        return doubling(xs)


def test_out_of_memory_splits_the_batch_and_no_job_fails():
    clock = FakeClock()
    runner = OomAbove(limit=2)
    batcher = Batcher(BatchPolicy(8, 0), runner, clock)
    futures = [batcher.submit(i) for i in range(8)]
    batcher.step()
    assert [f.result(0).value for f in futures] == [i * 2 for i in range(8)]
    assert runner.sizes[:3] == [8, 4, 2]
    assert batcher.size_cap == 2  # the following batches start small


def test_size_cap_recovers_slowly_after_successes():
    clock = FakeClock()
    runner = OomAbove(limit=4)
    batcher = Batcher(BatchPolicy(8, 0), runner, clock)
    for i in range(8):
        batcher.submit(i)
    batcher.step()
    assert batcher.size_cap == 4
    runner.limit = 100  # memory frees up
    for _ in range(25):
        batcher.submit(0)
        batcher.step()
    assert batcher.size_cap == 5


def test_a_single_item_that_still_runs_out_of_memory_fails_alone():
    clock = FakeClock()
    batcher = Batcher(BatchPolicy(4, 0), OomAbove(limit=0), clock)
    futures = [batcher.submit(i) for i in range(2)]
    batcher.step()
    for f in futures:
        with pytest.raises(MemoryError):
            f.result(0)


def test_raising_the_policy_size_raises_the_cap_at_once_unless_backing_off():
    batcher = Batcher(BatchPolicy(8, 0), doubling, FakeClock())
    batcher.set_policy(BatchPolicy(16, 0))
    assert batcher.size_cap == 16
    runner = OomAbove(limit=4)
    backing_off = Batcher(BatchPolicy(8, 0), runner, FakeClock())
    for i in range(8):
        backing_off.submit(i)
    backing_off.step()
    backing_off.set_policy(BatchPolicy(16, 0))
    assert backing_off.size_cap == 4


def test_drain_finishes_the_running_batch_and_hands_back_the_waiting_items():
    running, release = threading.Event(), threading.Event()

    def slow(items: list[int]) -> list[int]:
        running.set()
        release.wait(5)
        return doubling(items)

    batcher = Batcher(BatchPolicy(2, 10_000), slow)
    batcher.start()
    in_flight = [batcher.submit(1), batcher.submit(2)]  # a full batch: runs at once
    assert running.wait(5)
    waiting = [batcher.submit(3), batcher.submit(4), batcher.submit(5)]
    assert batcher.drain() == 3
    with pytest.raises(WorkerDraining):
        batcher.submit(6)
    for future in waiting:
        with pytest.raises(WorkerDraining):
            future.result(0)
    release.set()
    assert [f.result(5).value for f in in_flight] == [2, 4]
    batcher.close(timeout=5)


def test_retries_back_off_doubling_with_jitter_up_to_a_minute():
    from workers.backoff import RETRY_MAX_S, retry_delay_s

    assert [retry_delay_s(n, lambda: 1.0) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert retry_delay_s(30, lambda: 1.0) == RETRY_MAX_S
    assert retry_delay_s(2, lambda: 0.5) == 2.0  # jitter scales it down, never up


def test_each_batch_is_reported_with_its_size_time_and_padded_tokens():
    clock = FakeClock()
    reports: list[tuple[int, float, int]] = []
    batcher = Batcher(BatchPolicy(4, 0), doubling, clock)
    batcher.on_batch = lambda size, seconds, tokens: reports.append((size, seconds, tokens))
    for tokens in (100, 300, 200):
        batcher.submit(1, tokens=tokens)
    batcher.step()
    assert reports == [(3, 0.0, 3 * 300)]  # every row padded to the longest
