"""OOM backoff and poison isolation, pure: split a batch that failed until what fails is alone.

No job fails for an out-of-memory error that a smaller batch avoids: a batch that raises one is
split in halves, each half retried (recursively, down to single items); the cap on batch size
drops to the size that failed halved, and climbs back by one after every `recover_after`
successful batches in a row.

No job fails for another's input either: a batch that raises anything else is split in halves and
both halves run before either is split further, down to the item that fails alone (about
2 × log2(size) runs for one poison prompt; running both halves first keeps failures from
following each other, so one poison prompt does not open the model breaker). Only the items that
fail alone get the error, as FailedAlone when items of the batch succeeded (their own input is
then the likely cause). When the worker refuses work (its breaker opened), nothing is split.

The vllm engine has no batch to split: vLLM preempts and reschedules requests itself when its KV
cache runs short, and each request fails alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from core.errors import BatchResultMismatch, FailedAlone, WorkerUnavailable

T = TypeVar("T")
R = TypeVar("R")


def is_out_of_memory(exc: BaseException) -> bool:
    """torch.cuda.OutOfMemoryError (checked by name: no torch import here) or MemoryError on CPU."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"


class SizeCap:
    """The largest batch the device has recently managed; thread-safe."""

    def __init__(self, ceiling: int, recover_after: int = 20) -> None:
        self.ceiling = ceiling
        self.recover_after = recover_after
        self._current = ceiling
        self._streak = 0
        self._lock = threading.Lock()

    @property
    def current(self) -> int:
        return self._current

    def shrink(self, failed_size: int) -> None:
        with self._lock:
            self._current = max(1, min(self._current, failed_size // 2))
            self._streak = 0

    def succeeded(self) -> None:
        with self._lock:
            self._streak += 1
            if self._streak >= self.recover_after and self._current < self.ceiling:
                self._current += 1
                self._streak = 0

    def reset(self, ceiling: int) -> None:
        """A new ceiling (a policy change): a cap that is backing off stays as low, else it follows."""
        with self._lock:
            backing_off = self._current < self.ceiling
            self.ceiling = ceiling
            self._current = min(self._current, ceiling) if backing_off else ceiling


def run_splitting(
    items: list[T],
    run: Callable[[list[T]], Sequence[R | BaseException]],
    cap: SizeCap,
    is_oom: Callable[[BaseException], bool] = is_out_of_memory,
    isolate: bool = True,
) -> list[R | BaseException]:
    """Run `items`; on OOM split in halves and retry, and (with `isolate`) on any other error find
    the items that fail alone. A single item that still fails fails alone."""
    try:
        results = list(run(items))
    except BaseException as exc:
        if not is_oom(exc):
            if not isolate or isinstance(exc, WorkerUnavailable):
                raise
            return _blame_alone(_isolate(items, exc, run, cap, is_oom))
        cap.shrink(len(items))
        if len(items) == 1:
            return [exc]
        middle = len(items) // 2
        return run_splitting(items[:middle], run, cap, is_oom, isolate) + run_splitting(
            items[middle:], run, cap, is_oom, isolate
        )
    if len(results) != len(items):
        raise BatchResultMismatch(f"batch of {len(items)} returned {len(results)} results")
    return results


def _isolate(
    items: list[T],
    error: BaseException,
    run: Callable[[list[T]], Sequence[R | BaseException]],
    cap: SizeCap,
    is_oom: Callable[[BaseException], bool],
) -> list[R | BaseException]:
    """`items` failed together with `error`: run both halves, then split only those that fail."""
    if len(items) == 1:
        return [error]
    middle = len(items) // 2
    halves = [items[:middle], items[middle:]]
    attempts = [_attempt(half, run, cap, is_oom) for half in halves]
    results: list[R | BaseException] = []
    for half, attempt in zip(halves, attempts, strict=True):
        if not isinstance(attempt, BaseException):
            results.extend(attempt)
        elif isinstance(attempt, WorkerUnavailable):
            results.extend([attempt] * len(half))
        else:
            results.extend(_isolate(half, attempt, run, cap, is_oom))
    return results


def _blame_alone(results: list[R | BaseException]) -> list[R | BaseException]:
    """When some items of the batch succeeded, those that failed alone failed of their own input:
    their errors become FailedAlone (a refusal by the worker stays what it is)."""
    if all(isinstance(result, BaseException) for result in results):
        return results  # nothing succeeded: no evidence against any one item
    return [_alone(result) for result in results]


def _alone(result: R | BaseException) -> R | BaseException:
    if not isinstance(result, Exception) or isinstance(result, WorkerUnavailable | FailedAlone):
        return result
    blamed = FailedAlone(f"{type(result).__name__}: {result}")
    blamed.__cause__ = result
    return blamed


def _attempt(
    items: list[T],
    run: Callable[[list[T]], Sequence[R | BaseException]],
    cap: SizeCap,
    is_oom: Callable[[BaseException], bool],
) -> list[R | BaseException] | BaseException:
    try:
        return run_splitting(items, run, cap, is_oom, isolate=False)
    except BaseException as exc:  # returned, to be isolated by the caller after both halves ran
        return exc


RETRY_BASE_S = 1.0
RETRY_MAX_S = 60.0


def retry_delay_s(retries: int, jitter: Callable[[], float]) -> float:
    """How long a job whose model failed waits before its next try: doubling from RETRY_BASE_S
    with each retry already spent, at most RETRY_MAX_S, times `jitter()` (0.5 to 1: retries of
    one failed batch do not all come back at the same moment)."""
    return min(RETRY_MAX_S, RETRY_BASE_S * 2.0 ** min(retries, 16)) * jitter()
