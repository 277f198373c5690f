"""The bulk pipeline settles every delivery on its own: acked after its answer is stored, retried
alone, handed back untouched, failed alone, whatever its neighbours did."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from core.errors import WorkerDraining
from core.jobs import ChatJob, JobStatus, new_id, utcnow
from persistence import views
from persistence.db import SessionFactory
from routing.table import load_table
from tests.support import store
from workers.batcher import Batcher, BatchPolicy
from workers.feeders import PromptRequest
from workers.pipeline import POISON_MAX_RETRIES, JobPipeline
from workers.responder import Responder
from workers.runners.base import Generation

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
RunBatch = Callable[[list[PromptRequest]], list[Generation]]


class FakeDelivery:
    """A broker message as the pipeline sees it; records how it was settled."""

    def __init__(self, payload: Any, retries: int = 0, suspect: bool = False) -> None:
        self.payload = payload
        self.retries = retries
        self.suspect = suspect
        self.retried_as_suspect: bool | None = None
        self.outcomes: list[tuple[str, str]] = []  # one, unless the pipeline settled it twice
        self.was_started = False
        self.settled = threading.Event()

    def started(self) -> None:
        self.was_started = True

    def answered(self, outcome: str) -> None:
        self._settle("answered", outcome)

    def hand_back(self, reason: str) -> None:
        self._settle("handed back", reason)

    def retry(self, job: ChatJob, reason: str, suspect: bool = False) -> None:
        self.retried_as_suspect = suspect
        self._settle("retried", reason)

    def dead_letter(self, reason: str, error: str) -> None:
        self._settle("dead-lettered", reason)

    @property
    def outcome(self) -> tuple[str, str] | None:
        assert len(self.outcomes) <= 1, f"settled more than once: {self.outcomes}"
        return self.outcomes[0] if self.outcomes else None

    def _settle(self, how: str, detail: str) -> None:
        self.outcomes.append((how, detail))
        self.settled.set()


def _echo(requests: list[PromptRequest]) -> list[Generation]:
    return [Generation(f"re: {r.messages[-1]['content']}", 10, 2, "stop") for r in requests]


def _poisoned(requests: list[PromptRequest]) -> list[Generation]:
    if any("poison" in r.messages[-1]["content"] for r in requests):
        raise RuntimeError("CUDA error: device-side assert")
    return _echo(requests)


@pytest.fixture
def make_pipeline(factory: SessionFactory) -> Iterator[Callable[..., JobPipeline]]:
    made: list[tuple[JobPipeline, Batcher[PromptRequest, Generation]]] = []

    def make(
        run: RunBatch = _echo,
        max_retries: int = 2,
        admit: Callable[[], None] = lambda: None,
        timeout_s: float = 5,
        max_wait_ms: float = 1,
    ) -> JobPipeline:
        batcher: Batcher[PromptRequest, Generation] = Batcher(BatchPolicy(8, max_wait_ms, 100_000), run)
        batcher.start()
        profile = load_table(None).profiles["default"]
        responder = Responder(
            factory,
            batcher,
            profile,
            "tiny",
            lambda messages: 10,
            history_turns=4,
            timeout_s=timeout_s,
            admit=admit,
        )
        pipeline = JobPipeline(responder, "w1", max_retries)
        pipeline.start()
        made.append((pipeline, batcher))
        return pipeline

    make.batchers = lambda: [batcher for _, batcher in made]  # type: ignore[attr-defined]

    yield make
    for pipeline, batcher in made:
        pipeline.close(timeout=5)
        batcher.close(timeout=5)


def _queued(factory: SessionFactory, text: str, conversation_id: str | None = None) -> ChatJob:
    job = ChatJob(
        job_id=new_id(),
        conversation_id=conversation_id or new_id(),
        text=text,
        language="en",
        queue="chat.en",
    )
    store.record_user_turn(factory, job, "explicit")
    return job


def _deliver(pipeline: JobPipeline, *deliveries: FakeDelivery) -> None:
    for delivery in deliveries:
        pipeline.receive(delivery)
    assert pipeline.wait_idle(timeout=10), "every delivery settled"
    assert all(len(d.outcomes) == 1 for d in deliveries), [d.outcomes for d in deliveries]


def _status(factory: SessionFactory, job: ChatJob) -> JobStatus:
    view = views.get_job(factory, job.job_id)
    assert view is not None
    return view.status


def test_each_delivery_is_acked_once_its_own_answer_is_stored(factory: SessionFactory, make_pipeline):
    jobs = [_queued(factory, f"question {i}") for i in range(5)]
    deliveries = [FakeDelivery(job.to_wire()) for job in jobs]
    _deliver(make_pipeline(), *deliveries)
    assert [d.outcome for d in deliveries] == [("answered", "done")] * 5
    assert all(d.was_started for d in deliveries)
    for job in jobs:
        view = views.get_job(factory, job.job_id)
        assert view is not None and view.answer == f"re: {job.text}"


def test_a_model_failure_is_retried_and_past_its_retries_stored_failed(
    factory: SessionFactory, make_pipeline
):
    fresh, spent = _queued(factory, "poison one"), _queued(factory, "poison two")
    deliveries = [FakeDelivery(fresh.to_wire(), retries=0), FakeDelivery(spent.to_wire(), retries=2)]
    _deliver(make_pipeline(_poisoned, max_retries=2), *deliveries)
    assert deliveries[0].outcome is not None and deliveries[0].outcome[0] == "retried"
    assert "CUDA error" in deliveries[0].outcome[1]
    assert deliveries[1].outcome == ("dead-lettered", "retries exhausted")
    assert _status(factory, fresh) is JobStatus.QUEUED  # nothing final: its retry waits on the broker
    view = views.get_job(factory, spent.job_id)
    assert view is not None and view.status is JobStatus.FAILED and "after 3 attempts" in (view.error or "")


def test_a_job_that_fails_alone_among_healthy_batch_mates_gets_few_retries(
    factory: SessionFactory, make_pipeline
):
    # given a poison job on its third try (2 retries spent) among healthy jobs, and a job of a
    # batch where everything failed (no evidence against it) with as many retries spent
    pipeline = make_pipeline(_poisoned, max_retries=10, max_wait_ms=500)  # one batch for all six
    poison = _queued(factory, "poison")
    mates = [_queued(factory, f"fine {i}") for i in range(5)]
    deliveries = [FakeDelivery(poison.to_wire(), retries=POISON_MAX_RETRIES)]
    deliveries += [FakeDelivery(job.to_wire()) for job in mates]
    _deliver(pipeline, *deliveries)
    # then the poison is dead-lettered now (not after 10 retries), its batch-mates answered
    assert deliveries[0].outcome == ("dead-lettered", "retries exhausted")
    assert [d.outcome for d in deliveries[1:]] == [("answered", "done")] * 5
    view = views.get_job(factory, poison.job_id)
    assert view is not None and "failed alone in its batch" in (view.error or "")
    # a job that failed with its whole batch keeps its full retry budget...
    lonely = _queued(factory, "poison too")
    alone = FakeDelivery(lonely.to_wire(), retries=POISON_MAX_RETRIES)
    _deliver(pipeline, alone)
    assert alone.outcome is not None and alone.outcome[0] == "retried" and alone.retried_as_suspect is False
    # ...unless an earlier try failed alone: the suspicion travels with the retries
    again = FakeDelivery(lonely.to_wire(), retries=POISON_MAX_RETRIES, suspect=True)
    _deliver(pipeline, again)
    assert again.outcome == ("dead-lettered", "retries exhausted")


def test_a_malformed_an_unknown_and_a_duplicate_delivery_are_acked_alone(
    factory: SessionFactory, make_pipeline
):
    good, done = _queued(factory, "fine"), _queued(factory, "answered already")
    pipeline = make_pipeline()
    _deliver(pipeline, FakeDelivery(done.to_wire()))
    unknown = ChatJob(job_id=new_id(), conversation_id=new_id(), text="?", language="en", queue="chat.en")
    broken = {"job_id": good.job_id, "text": 3}
    deliveries = [FakeDelivery(broken), FakeDelivery(unknown.to_wire()), FakeDelivery(done.to_wire())]
    _deliver(pipeline, *deliveries)
    assert [d.outcome for d in deliveries] == [
        ("dead-lettered", "malformed"),
        ("answered", "unknown job"),
        ("answered", "duplicate"),
    ]
    assert _status(factory, good) is JobStatus.FAILED  # its malformed message failed it in the store


def test_a_refusing_worker_hands_every_delivery_back_untouched(factory: SessionFactory, make_pipeline):
    def refuse() -> None:
        raise WorkerDraining("shutting down")

    job = _queued(factory, "hello")
    delivery = FakeDelivery(job.to_wire())
    _deliver(make_pipeline(admit=refuse), delivery)
    assert delivery.outcome == ("handed back", "shutting down")
    assert _status(factory, job) is JobStatus.QUEUED


def test_a_follow_up_waits_for_its_earlier_turn_and_is_handed_back(factory: SessionFactory, make_pipeline):
    first = _queued(factory, "first")
    follow_up = _queued(factory, "second", conversation_id=first.conversation_id)
    delivery = FakeDelivery(follow_up.to_wire())
    began = time.monotonic()
    _deliver(make_pipeline(), delivery)
    assert delivery.outcome is not None and delivery.outcome[0] == "handed back"
    assert time.monotonic() - began >= 0.15  # not at once: it would spin on RabbitMQ
    assert _status(factory, follow_up) is JobStatus.QUEUED


def test_answers_that_cannot_be_stored_hand_their_jobs_back(
    factory: SessionFactory, make_pipeline, monkeypatch: pytest.MonkeyPatch
):
    job = _queued(factory, "hello")
    pipeline = make_pipeline()

    def store_down(*_: Any) -> list[bool]:
        raise ConnectionError("the store went away")

    monkeypatch.setattr("persistence.job_lifecycle.store_answers", store_down)
    delivery = FakeDelivery(job.to_wire())
    _deliver(pipeline, delivery)
    assert delivery.outcome == ("handed back", "could not store the answer")


def test_shutting_down_hands_back_what_waits_and_finishes_what_runs(factory: SessionFactory, make_pipeline):
    release, entered = threading.Event(), threading.Event()

    def slow(requests: list[PromptRequest]) -> list[Generation]:
        entered.set()
        release.wait(10)
        return _echo(requests)

    pipeline = make_pipeline(slow)
    batcher = make_pipeline.batchers()[-1]
    running, waiting = (FakeDelivery(_queued(factory, text).to_wire()) for text in ("running", "waiting"))
    pipeline.receive(running)
    _wait_for(entered.is_set)  # its batch is running
    pipeline.receive(waiting)  # lines up behind the running batch
    _wait_for(lambda: batcher.waiting == 1)
    assert batcher.drain() == 1  # what the worker's drain does on SIGTERM
    _wait_for(lambda: waiting.settled.is_set())
    assert waiting.outcome == ("handed back", "the worker is shutting down; job handed back")
    assert not pipeline.wait_idle(timeout=0.1)  # the running job still holds
    release.set()
    assert pipeline.wait_idle(timeout=10)
    assert running.outcome == ("answered", "done")


def _wait_for(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_generation_past_the_job_timeout_is_retried_once_and_its_late_answer_ignored(
    factory, make_pipeline
):
    release = threading.Event()

    def hung(requests: list[PromptRequest]) -> list[Generation]:
        release.wait(10)
        return _echo(requests)

    delivery = FakeDelivery(_queued(factory, "hello").to_wire())
    pipeline = make_pipeline(hung, timeout_s=0.3)
    pipeline.receive(delivery)
    assert pipeline.wait_idle(timeout=5)
    assert delivery.outcome is not None and delivery.outcome[0] == "retried"
    assert "job timeout" in delivery.outcome[1]
    release.set()  # the late generation ends, and must not settle the delivery again
    time.sleep(0.3)
    assert pipeline.held == 0 and len(delivery.outcomes) == 1


def test_a_store_that_fails_while_starting_hands_each_delivery_back_once(factory, make_pipeline, monkeypatch):
    def store_down(*_: Any, **__: Any) -> list[Any]:
        raise ConnectionError("the store went away")

    monkeypatch.setattr("persistence.job_lifecycle.begin_jobs", store_down)
    broken = FakeDelivery({"job_id": new_id(), "text": 3})  # settled (malformed) before the store fails
    fine = FakeDelivery(_queued(factory, "hello").to_wire())
    pipeline = make_pipeline()
    _deliver(pipeline, broken, fine)  # each settled once, though the catch-all hands back both
    assert broken.outcome == ("dead-lettered", "malformed")
    assert fine.outcome == ("handed back", "could not start the job")
    assert pipeline.held == 0


def test_a_job_past_its_deadline_ends_expired_without_reaching_the_model(factory, make_pipeline):
    ran: list[int] = []

    def counting(requests: list[PromptRequest]) -> list[Generation]:
        ran.append(len(requests))
        return _echo(requests)

    job = _queued(factory, "hours old").model_copy(update={"deadline_at": utcnow() - timedelta(seconds=1)})
    delivery = FakeDelivery(job.to_wire())
    _deliver(make_pipeline(counting), delivery)
    assert delivery.outcome == ("answered", "expired") and ran == []
    view = views.get_job(factory, job.job_id)
    assert view is not None and view.status is JobStatus.EXPIRED and view.error == "deadline passed"


def test_a_job_of_a_newer_wire_version_is_dead_lettered_and_left_as_it_is(factory, make_pipeline):
    job = _queued(factory, "from a newer producer")
    delivery = FakeDelivery({**job.to_wire(), "v": 99})
    _deliver(make_pipeline(), delivery)
    assert delivery.outcome == ("dead-lettered", "unsupported version")
    assert _status(factory, job) is JobStatus.QUEUED  # not failed: a replay once workers know v99
