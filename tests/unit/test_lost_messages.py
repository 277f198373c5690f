"""The sweep for messages Redis lost with a dead worker, on a SQLite store, a broker stand-in that
says which jobs it keeps, and an injected clock."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from core.jobs import ChatJob, new_id, utcnow
from persistence import liveness
from persistence.db import SessionFactory
from persistence.migrate import upgrade
from persistence.models import Job, WorkerBeat
from tests.support import store
from workers.lost_messages import LostMessages

DEAD_AFTER_S = 30.0  # the shipped BABELQ_WORKER_DEAD_AFTER_S
CONFIRM_AFTER_S = 2.0


class Broker:
    """Keeps the messages of `kept`; raises while `down`."""

    def __init__(self, kept: set[str] | None = None) -> None:
        self.kept = kept or set()
        self.down = False
        self.reads: list[set[str]] = []

    def kept_job_ids(self, queues: Collection[str]) -> set[str] | None:
        if self.down:
            raise ConnectionError("redis is away")
        self.reads.append(set(queues))
        return set(self.kept)


class LosesNothing:
    """A broker that hands a dead consumer's messages on by itself (RabbitMQ)."""

    def kept_job_ids(self, queues: Collection[str]) -> set[str] | None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[SessionFactory]:
    url = f"sqlite:///{tmp_path / 'babelq.db'}"
    upgrade(url)
    with store.session_factory(url) as factory:
        yield factory


def _queued(factory: SessionFactory, published_ago: timedelta, queue: str = "chat.en") -> ChatJob:
    job = ChatJob(job_id=new_id(), conversation_id=new_id(), text="hi", language="en", queue=queue)
    store.record_user_turn(factory, job, "explicit")
    with factory.begin() as session:
        session.execute(
            update(Job).where(Job.job_id == job.job_id).values(published_at=utcnow() - published_ago)
        )
    return job


def _died(factory: SessionFactory, worker: str, ago: timedelta) -> None:
    liveness.beat(factory, worker, utcnow() - ago)
    with factory.begin() as session:
        session.execute(update(WorkerBeat).where(WorkerBeat.name == worker).values(seen_at=utcnow() - ago))


def _sweep(
    factory: SessionFactory, broker: Broker | LosesNothing, clock: Clock, people: tuple[str, ...] = ()
) -> LostMessages:
    return LostMessages(
        factory,
        broker,
        dead_after_s=DEAD_AFTER_S,
        confirm_after_s=CONFIRM_AFTER_S,
        people_queues=people,
        clock=clock,
    )


def test_without_a_death_nothing_is_read_from_the_broker(factory: SessionFactory):
    _queued(factory, timedelta(minutes=2))
    liveness.beat(factory, "alive@h", utcnow())
    broker = Broker()
    assert _sweep(factory, broker, Clock()).sweep() == []
    assert broker.reads == []


def test_a_death_makes_suspects_confirmed_a_beat_later_then_claimed(factory: SessionFactory):
    # given jobs published before a death: one whose message the broker keeps, one it lost
    kept, lost = _queued(factory, timedelta(minutes=2)), _queued(factory, timedelta(minutes=2), "chat.fr")
    after = _queued(factory, timedelta(seconds=0))  # published after the death: not its
    _died(factory, "dead@h", timedelta(seconds=DEAD_AFTER_S + 10))
    broker, clock = Broker({kept.job_id, after.job_id}), Clock()
    sweep = _sweep(factory, broker, clock)
    # when the sweep runs: the lost job is a suspect, read on its own queues
    assert sweep.sweep() == []
    assert sweep.suspects is not None and set(sweep.suspects.queues) == {lost.job_id}
    assert broker.reads == [{"chat.en", "chat.fr"}]
    # before the suspects' time nothing more is read; after it, the lost job is claimed, once
    clock.now += CONFIRM_AFTER_S / 2
    assert sweep.sweep() == []
    clock.now += CONFIRM_AFTER_S
    assert [job.job_id for job in sweep.sweep()] == [lost.job_id]
    assert sweep.suspects is None
    assert sweep.sweep() == []  # the death is swept: nothing read again
    assert len(broker.reads) == 2


def test_a_suspect_found_again_or_started_meanwhile_is_not_claimed(factory: SessionFactory):
    back, started = _queued(factory, timedelta(minutes=2)), _queued(factory, timedelta(minutes=2))
    _died(factory, "dead@h", timedelta(seconds=DEAD_AFTER_S + 10))
    broker, clock = Broker(), Clock()
    sweep = _sweep(factory, broker, clock)
    sweep.sweep()
    broker.kept.add(back.job_id)  # its message was moving between two places at the first read
    store.start_job(factory, started.job_id, "alive@h")  # a living worker had it
    clock.now += CONFIRM_AFTER_S
    assert sweep.sweep() == []


def test_a_broker_away_at_a_death_is_read_again_at_the_next_beat(factory: SessionFactory):
    lost = _queued(factory, timedelta(minutes=2))
    _died(factory, "dead@h", timedelta(seconds=DEAD_AFTER_S + 10))
    broker, clock = Broker(), Clock()
    broker.down = True
    sweep = _sweep(factory, broker, clock)
    with pytest.raises(ConnectionError):
        sweep.sweep()
    broker.down = False
    sweep.sweep()  # the death it claimed is read now
    clock.now += CONFIRM_AFTER_S
    broker.down = True
    with pytest.raises(ConnectionError):
        sweep.sweep()
    broker.down = False
    assert [job.job_id for job in sweep.sweep()] == [lost.job_id]


def test_people_queues_and_brokers_that_lose_nothing_are_left_alone(factory: SessionFactory):
    _queued(factory, timedelta(minutes=2), "chat.human")
    _died(factory, "dead@h", timedelta(seconds=DEAD_AFTER_S + 10))
    sweep = _sweep(factory, Broker(), Clock(), people=("chat.human",))
    assert sweep.sweep() == [] and sweep.suspects is None
    _queued(factory, timedelta(minutes=2))
    _died(factory, "other@h", timedelta(seconds=DEAD_AFTER_S + 10))
    sweep = _sweep(factory, LosesNothing(), Clock())
    assert sweep.sweep() == [] and sweep.suspects is None
