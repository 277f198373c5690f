"""Bulk consumption: the worker's jobs in, through the engine, and out, in groups, each with its own
outcome. Free of Celery: the broker's side is a `Delivery` (see bulk_consumer for Celery's).

Deliveries arrive one by one from the consumer's thread and cost it a list append. A starter
thread takes every delivery that has arrived, starts them in one transaction and hands each to the
engine (the micro-batcher); as generations finish, a finisher thread takes every finished job,
stores their answers in one transaction and settles each delivery on its own: acked once its
answer is stored, handed back untouched when this worker refuses work (shutting down, breaker
open) or the store failed, retried alone when the model failed, failed alone when its input did.
Two threads per worker instead of one per job in flight. Each job's passage ends in one outcome,
and workers/outcomes.py says how each outcome settles its delivery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, assert_never

from core.errors import (
    EarlierTurnPending,
    InvalidInput,
    JobNotFound,
    ModelFailed,
    PoisonSuspect,
    UnsupportedJobVersion,
    WorkerUnavailable,
)
from core.jobs import ChatAnswer, ChatJob, log_fields
from persistence import job_lifecycle
from persistence.job_lifecycle import Begun, Start
from workers.outcomes import (
    Ack,
    DeadLetter,
    Duplicate,
    Expired,
    FailedByModel,
    FailedOnInput,
    HandBack,
    HandedBack,
    Judged,
    Launched,
    Outcome,
    RetriesSpent,
    Retry,
    Settlement,
    Stored,
    ToStore,
    Unreadable,
    settlement,
)
from workers.responder import Responder

log = logging.getLogger(__name__)
TIMEOUT_CHECK_S = 1.0
POISON_MAX_RETRIES = 2
# After the store failed, jobs go back to the broker only after this pause, so that a worker
# whose store is down does not take them straight back and spin on them.
FAULT_PAUSE_S = 1.0


class Delivery(Protocol):
    """One broker message carrying one job, settled exactly once by the pipeline."""

    @property
    def payload(self) -> Any: ...

    @property
    def retries(self) -> int:
        """How many times this job was retried already (0 for its first message)."""
        ...

    @property
    def suspect(self) -> bool:
        """An earlier try of this job failed alone in its batch (see PoisonSuspect)."""
        ...

    def started(self) -> None:
        """The job is running now (for the worker's state and task events)."""

    def answered(self, outcome: str) -> None:
        """Its outcome is stored (or it needs none): ack it."""

    def hand_back(self, reason: str) -> None:
        """Return it to the broker untouched, for this or another worker."""

    def retry(self, job: ChatJob, reason: str, suspect: bool = False) -> None:
        """Publish it again with one more retry counted (and `suspect` carried), then ack this copy."""

    def dead_letter(self, reason: str, error: str) -> None:
        """Put it on the dead-letter queue with why, then ack this copy."""


@dataclass
class _InFlight:
    delivery: Delivery
    job: ChatJob
    launched: Launched | None = None
    judged: Judged | None = None  # decided before the engine ran it (expired, input fault)
    since: float = field(default_factory=time.monotonic)


class JobPipeline:
    """Jobs from deliveries to stored answers, in bulk; see the module's docstring."""

    def __init__(
        self,
        responder: Responder,
        worker: str,
        max_retries: int,
        *,
        on_held: Callable[[int], None] | None = None,
        dead_letter_queue: str = "chat.dead",
        on_answered: Callable[[ChatJob, ChatAnswer], None] | None = None,
        on_retried: Callable[[ChatJob], None] | None = None,
    ) -> None:
        self._responder = responder
        self.worker = worker
        self.dead_letter_queue = dead_letter_queue
        self._max_retries = max_retries
        self._cond = threading.Condition()
        self._arrived: list[Delivery] = []
        self._finished: list[_InFlight] = []
        self._running: dict[int, _InFlight] = {}
        self._unsettled: set[int] = set()  # ids of the deliveries received and not settled yet
        self._settling: set[int] = set()  # ids of those being settled now
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._on_held = on_held  # told +1 / -1 as deliveries come and go (for babelq status)
        # told of each outcome stored now, and of each retry (the worker's metrics)
        self._on_answered = on_answered
        self._on_retried = on_retried

    @property
    def held(self) -> int:
        """Deliveries received and not settled yet."""
        return len(self._unsettled)

    def start(self) -> None:
        for name, loop in (("babelq-starter", self._start_loop), ("babelq-finisher", self._finish_loop)):
            thread = threading.Thread(target=loop, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def receive(self, delivery: Delivery) -> None:
        """Take one delivery (called from the consumer's thread; returns at once)."""
        with self._cond:
            self._unsettled.add(id(delivery))
            self._arrived.append(delivery)
            self._cond.notify_all()
        if self._on_held is not None:
            self._on_held(1)

    def hand_back_waiting(self) -> int:
        """Shutting down: hand back the deliveries not started yet; returns how many."""
        with self._cond:
            waiting, self._arrived = self._arrived, []
        for delivery in waiting:
            self._end(delivery, HandedBack("the worker is shutting down"))
        return len(waiting)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every delivery is settled; False if `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._unsettled:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float | None = None) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # -- starting ---------------------------------------------------------------------------

    def _start_loop(self) -> None:
        while (deliveries := self._take_arrived()) is not None:
            try:
                self._start(deliveries)
            except Exception:  # never lose the loop: each delivery still gets an outcome
                log.exception("starting %d jobs failed; handing them back", len(deliveries))
                time.sleep(FAULT_PAUSE_S)  # the store is likely down: do not spin on redeliveries
                for delivery in deliveries:
                    self._end(delivery, HandedBack("could not start the job"))

    def _take_arrived(self) -> list[Delivery] | None:
        with self._cond:
            while not self._arrived and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            taken, self._arrived = self._arrived, []
            return taken

    def _start(self, deliveries: Sequence[Delivery]) -> None:
        parsed = [(delivery, self._parse(delivery)) for delivery in deliveries]
        runnable = [(delivery, job) for delivery, job in parsed if job is not None]
        if not runnable:
            return
        try:
            self._responder.admit()
        except WorkerUnavailable as exc:
            for delivery, _job in runnable:
                self._end(delivery, HandedBack(str(exc)))
            return
        begun = self._responder.begin([job for _, job in runnable], self.worker)
        for (delivery, job), start in zip(runnable, begun, strict=True):
            self._launch(delivery, job, start)

    def _parse(self, delivery: Delivery) -> ChatJob | None:
        """The delivery's job; a message that is not one goes to the dead-letter queue. A job of
        a newer wire version stays as it is in the store, for a replay once workers know it; a
        malformed one is failed there."""
        payload = delivery.payload if isinstance(delivery.payload, dict) else {}
        try:
            return ChatJob.from_wire(payload)
        except UnsupportedJobVersion as exc:
            log.error("dead-lettered a job this worker cannot read: %s", exc)
            self._end(delivery, Unreadable("unsupported version", str(exc)))
        except InvalidInput as exc:
            log.error("dead-lettered a malformed job: %s", exc)
            if isinstance(payload.get("job_id"), str):
                job_lifecycle.fail_job(self._responder.session_factory, payload["job_id"], str(exc))
            self._end(delivery, Unreadable("malformed", str(exc)))
        return None

    def _launch(self, delivery: Delivery, job: ChatJob, start: Start) -> None:
        match start:
            case Begun():
                self._launch_begun(_InFlight(delivery, job), start)
            case JobNotFound():
                log.error(
                    "job %s is not in the store; message dropped",
                    job.job_id,
                    extra=log_fields(job.job_id, job.queue, self.worker),
                )
                self._end(delivery, start)
            case EarlierTurnPending():
                self._end(delivery, start)
            case _:
                assert_never(start)

    def _launch_begun(self, item: _InFlight, begun: Begun) -> None:
        try:
            launch = self._responder.launch(item.job, begun, self.worker)
        except Exception as exc:  # the engine refused it at once: settle it like a finished job
            self._finish([item], {id(item): exc})
            return
        match launch:
            case Launched():
                self._run(item, launch)
            case Duplicate():
                self._end(item.delivery, launch)
            case Expired() | FailedOnInput():
                item.judged = launch
                self._hand_to_finisher(item)
            case _:
                assert_never(launch)

    def _run(self, item: _InFlight, launched: Launched) -> None:
        item.launched = launched
        item.delivery.started()
        with self._cond:
            self._running[id(item)] = item
        launched.future.add_done_callback(lambda _: self._generated(item))

    def _generated(self, item: _InFlight) -> None:
        with self._cond:
            if self._running.pop(id(item), None) is None:
                return  # it timed out before: settled as a model failure already
            self._finished.append(item)
            self._cond.notify_all()

    def _hand_to_finisher(self, item: _InFlight) -> None:
        with self._cond:
            self._finished.append(item)
            self._cond.notify_all()

    # -- finishing --------------------------------------------------------------------------

    def _finish_loop(self) -> None:
        while (items := self._take_finished()) is not None:
            try:
                self._finish(items, {})
            except Exception:  # never lose the loop: each delivery still gets an outcome
                log.exception("finishing %d jobs failed; handing them back", len(items))
                for item in items:
                    self._end(item.delivery, HandedBack("could not finish the job"))

    def _take_finished(self) -> list[_InFlight] | None:
        with self._cond:
            self._finished.extend(self._timed_out())
            while not self._finished and not self._closed:
                self._cond.wait(TIMEOUT_CHECK_S)
                self._finished.extend(self._timed_out())
            if self._closed:
                return None
            taken, self._finished = self._finished, []
            return taken

    def _timed_out(self) -> list[_InFlight]:
        """Jobs whose generation has run past the job timeout: finished as a model failure."""
        limit = time.monotonic() - self._responder.timeout_s
        late = [item for item in self._running.values() if item.since < limit]
        for item in late:
            del self._running[id(item)]
        return late

    def _finish(self, items: Sequence[_InFlight], errors: dict[int, Exception]) -> None:
        """Decide each item's outcome, store the answers in one transaction, settle each delivery."""
        to_store: list[tuple[_InFlight, ToStore]] = []
        for item in items:
            outcome = self._conclude(item, errors.get(id(item)))
            if outcome is not None:
                to_store.append((item, outcome))
        if not to_store:
            return
        try:
            stored = self._responder.store([outcome.answer for _, outcome in to_store])
        except Exception:
            log.exception("storing %d answers failed; handing their jobs back", len(to_store))
            time.sleep(FAULT_PAUSE_S)
            for item, _ in to_store:
                self._end(item.delivery, HandedBack("could not store the answer"))
            return
        for (item, outcome), written in zip(to_store, stored, strict=True):
            if written is Stored.WRITTEN:
                self._told_answered(item.job, outcome.answer)
                if item.launched is not None:
                    self._responder.remember(item.launched, outcome.answer)
            self._end(item.delivery, outcome)

    def _conclude(self, item: _InFlight, error: Exception | None) -> ToStore | None:
        """The outcome to store, or None when the delivery was settled otherwise."""
        try:
            if error is not None:
                raise error
            if item.judged is not None:
                return item.judged
            if item.launched is None or not item.launched.future.done():
                raise ModelFailed(f"no answer within the job timeout of {self._responder.timeout_s:g} s")
            return self._responder.conclude(item.launched, self.worker)
        except WorkerUnavailable as exc:
            self._requeue(item.job)
            self._end(item.delivery, HandedBack(str(exc)))
        except ModelFailed as exc:
            return self._retry_or_fail(item, exc)
        return None

    def _told_answered(self, job: ChatJob, answer: ChatAnswer) -> None:
        if self._on_answered is None:
            return
        try:
            self._on_answered(job, answer)
        except Exception:  # a metric never costs an answer
            log.exception("on_answered failed for job %s", job.job_id)

    def _requeue(self, job: ChatJob) -> None:
        """A started job handed back untouched or retried is `queued` again in the store, so that
        nobody takes it for an orphan of this worker once this worker is gone."""
        try:
            job_lifecycle.requeue_jobs(self._responder.session_factory, [job.job_id], self.worker)
        except Exception as exc:  # it stays `running`: the orphan check re-publishes it later
            log.warning("could not mark job %s queued again: %s", job.job_id, exc)

    def _retry_or_fail(self, item: _InFlight, exc: ModelFailed) -> RetriesSpent | None:
        attempts = item.delivery.retries + 1
        # a job that failed alone while its batch-mates succeeded is likely poison: a few tries
        # (on other workers, maybe) rule a device out, without minutes of backoff
        # (the suspicion travels with its retries: a retry may well run alone, proving nothing)
        suspect = isinstance(exc, PoisonSuspect) or item.delivery.suspect
        limit = min(self._max_retries, POISON_MAX_RETRIES) if suspect else self._max_retries
        if item.delivery.retries < limit:
            # a new message on the same queue, so that another (healthy) worker may take it; the
            # job is queued meanwhile, not running here, as whoever holds that message may die
            self._requeue(item.job)
            self._end(item.delivery, FailedByModel(item.job, str(exc), suspect))
            if self._on_retried is not None:
                self._on_retried(item.job)
            return None
        failure = self._responder.failed(item.job, self.worker, f"{exc} (after {attempts} attempts)")
        return RetriesSpent(failure)

    def _end(self, delivery: Delivery, outcome: Outcome) -> None:
        """The job's passage here ended in `outcome`: settle its delivery as that outcome says."""
        self._carry_out(delivery, settlement(outcome))

    def _carry_out(self, delivery: Delivery, how: Settlement) -> None:
        match how:
            case Ack(outcome):
                self._settle(delivery, lambda d: d.answered(outcome))
            case Retry(job, reason, suspect):
                self._settle(delivery, lambda d: d.retry(job, reason, suspect))
            case DeadLetter(reason, error):
                self._settle(delivery, lambda d: d.dead_letter(reason, error))
            case HandBack(reason, after_s) if after_s > 0:
                timer = threading.Timer(after_s, self._settle, (delivery, lambda d: d.hand_back(reason)))
                timer.daemon = True
                timer.start()
            case HandBack(reason):
                self._settle(delivery, lambda d: d.hand_back(reason))
            case _:
                assert_never(how)

    def _settle(self, delivery: Delivery, how: Callable[[Delivery], None]) -> None:
        """Settle one delivery, once: a second settling of the same delivery (a catch-all handing
        back a group some of which was settled already) does nothing. It stops counting as held
        when settling it has returned (or raised), so `wait_idle` outlasts the ack."""
        with self._cond:
            if id(delivery) not in self._unsettled or id(delivery) in self._settling:
                return
            self._settling.add(id(delivery))
        try:
            how(delivery)
        except Exception:
            log.exception("settling a delivery failed; the broker will redeliver it")
        finally:
            with self._cond:
                self._settling.discard(id(delivery))
                self._unsettled.discard(id(delivery))
                self._cond.notify_all()
            if self._on_held is not None:
                self._on_held(-1)
