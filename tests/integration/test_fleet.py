"""The worker fleet under faults, on real brokers with real (tiny) models in real processes:
a circuit breaker that stops consumption, kill -9 mid-batch, SIGTERM during load."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.jobs import ChatJob, JobStatus, new_id
from persistence.models import Job
from producers.stack import Stack
from tests.support import store
from tests.support.jobs import (
    all_done,
    answered_by,
    assistant_turns,
    fresh_stack,
    node_of,
    publish_english_jobs,
    statuses,
)
from tests.support.processes import (
    SCRIPTED_WORKER,
    babelq_env,
    babelq_process,
    fleet_status,
    wait_until,
)
from tests.support.routes import routes_with
from transport.queues import publish_job

pytestmark = pytest.mark.integration
WORKER = ["worker", "--queues", "chat.en"]


def _settings(broker_url: str, tiny_model_dir: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    store_url = f"sqlite:///{tmp_path / 'babelq.db'}"
    return dict(
        broker_url=broker_url,
        database_url=store_url,
        model=str(tiny_model_dir),
        max_new_tokens="4",
        var_dir=str(tmp_path / "var"),
        torch_threads="1",
        **extra,
    )


@pytest.fixture
def make_stack() -> Iterator[list[Stack]]:
    stacks: list[Stack] = []
    yield stacks
    for stack in stacks:
        stack.close()


def _stack(values: dict[str, str], stacks: list[Stack]) -> Stack:
    stack = fresh_stack(values)
    stacks.append(stack)
    return stack


def _markers(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if "batch-start" in line or "batch-end" in line]


def _mid_batch(log: Path) -> bool:
    markers = _markers(log)
    return bool(markers) and "batch-start" in markers[-1]


def _attempts(stack: Stack, job_ids: list[str]) -> list[int]:
    with stack.factory() as session:
        return list(session.execute(select(Job.attempts).where(Job.job_id.in_(job_ids))).scalars())


def test_a_failing_worker_stops_consuming_and_a_healthy_one_answers_its_jobs(
    redis_url: str, tiny_model_dir: Path, tmp_path: Path, make_stack: list[Stack]
):
    values = _settings(
        redis_url,
        tiny_model_dir,
        tmp_path,
        breaker_reset_s="3",
        health_interval_s="1",
        routes_file=str(routes_with(tmp_path, engine="static")),
    )
    stack = _stack(values, make_stack)
    flag = tmp_path / "broken"
    env = {**babelq_env(**values), "SCRIPTED_FAIL_FLAG": str(flag)}
    sick_log, healthy_log = tmp_path / "sick.log", tmp_path / "healthy.log"
    with babelq_process(WORKER, env, sick_log, "ready.", program=SCRIPTED_WORKER) as sick:
        flag.touch()  # the device breaks after the warm-up
        jobs = publish_english_jobs(stack, 12)
        # Five failed batches in a row open the breaker, and the worker stops consuming
        wait_until(lambda: "stopped consuming chat.en" in sick_log.read_text(), 60, "breaker open", sick_log)
        assert statuses(stack, jobs)[JobStatus.FAILED] == 0  # nothing failed for the worker's fault
        with babelq_process(WORKER, babelq_env(**values), healthy_log, "ready.") as healthy:
            wait_until(lambda: all_done(stack, jobs), 60, "every job answered", healthy_log)
            status = fleet_status(values)
        assert answered_by(stack, jobs) == {node_of(healthy_log): 12}
        assert set(assistant_turns(stack, jobs).values()) == {1}
        # open, or half-open while a trial batch fails again (one comes every breaker_reset_s)
        sick_status = status[node_of(sick_log)]
        assert sick_status["breaker"] in ("open", "half-open") and not sick_status["consuming"]
        assert status[node_of(healthy_log)]["breaker"] == "closed"
        assert healthy.returncode == 0
        # The device recovers: the next trial batch closes the breaker and consumption resumes
        flag.unlink()
        resumed = "resumed consuming chat.en"
        wait_until(lambda: resumed in sick_log.read_text(), 30, "breaker closed", sick_log)
        later = publish_english_jobs(stack, 4, label="later")
        wait_until(lambda: all_done(stack, later), 60, "answered by the recovered worker", sick_log)
        assert answered_by(stack, later) == {node_of(sick_log): 4}
        assert sick.poll() is None


def test_a_conversations_turns_are_answered_in_order_by_several_busy_workers(
    redis_url: str, tiny_model_dir: Path, tmp_path: Path, make_stack: list[Stack]
):
    static = routes_with(tmp_path, engine="static")  # batch markers show the order
    values = _settings(redis_url, tiny_model_dir, tmp_path, routes_file=str(static))
    stack = _stack(values, make_stack)
    env = {**babelq_env(**values), "SCRIPTED_BATCH_DELAY_S": "0.1"}
    conversations = [new_id() for _ in range(6)]
    jobs = [
        ChatJob(
            job_id=new_id(),
            conversation_id=cid,
            text=f"turn {turn} of {cid[:8]}",
            language="en",
            queue="chat.en",
        )
        for turn in range(4)
        for cid in conversations
    ]
    with (
        babelq_process(WORKER, env, tmp_path / "w1.log", "ready.", program=SCRIPTED_WORKER),
        babelq_process(WORKER, env, tmp_path / "w2.log", "ready.", program=SCRIPTED_WORKER),
    ):
        # Every turn is queued at once, as a burst of follow-ups would be: both workers take
        # messages of one conversation at the same time.
        for job in jobs:
            store.record_user_turn(stack.factory, job, "explicit")
            publish_job(stack.celery, job)
        wait_until(lambda: all_done(stack, jobs), 120, "every turn answered", tmp_path / "w1.log")
    assert len(set(answered_by(stack, jobs))) == 2  # both workers answered
    for cid in conversations:
        mine = [job for job in jobs if job.conversation_id == cid]
        timings = _started_finished(stack, [job.job_id for job in mine])
        for earlier, later in itertools.pairwise(timings):
            assert later[0] >= earlier[1]  # a follow-up starts only once the turn before it is answered
        turns = store.get_turns(stack.factory, cid)
        assert turns is not None
        assert [t.text for t in turns if t.role == "user"] == [job.text for job in mine]
        answers = [t.job_id for t in turns if t.role == "assistant"]
        assert answers == [job.job_id for job in mine]  # answers stored in the order of the questions


def _started_finished(stack: Stack, job_ids: list[str]) -> list[tuple[datetime, datetime]]:
    with stack.factory() as session:
        rows = {
            job.job_id: (job.started_at, job.finished_at)
            for job in session.scalars(select(Job).where(Job.job_id.in_(job_ids)))
        }
    return [rows[job_id] for job_id in job_ids]


def test_a_worker_whose_trials_keep_failing_exits_for_its_supervisor_to_restart_it(
    redis_url: str, tiny_model_dir: Path, tmp_path: Path, make_stack: list[Stack]
):
    values = _settings(
        redis_url, tiny_model_dir, tmp_path, breaker_fail_max="1", breaker_reset_s="1", breaker_max_trials="2"
    )
    stack = _stack(values, make_stack)
    flag = tmp_path / "broken"
    env = {**babelq_env(**values), "SCRIPTED_FAIL_FLAG": str(flag)}
    log = tmp_path / "sick.log"
    with babelq_process(WORKER, env, log, "ready.", program=SCRIPTED_WORKER) as sick:
        flag.touch()
        jobs = publish_english_jobs(stack, 2)
        assert sick.wait(60) == 3  # GAVE_UP_EXIT_CODE
    assert "trials failed in a row; the worker gives up" in log.read_text()
    assert statuses(stack, jobs)[JobStatus.FAILED] == 0  # its jobs wait on the broker for others
