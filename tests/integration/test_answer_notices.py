"""`?wait=` across processes: the worker side announces stored answers (Redis pub/sub, or PostgreSQL
LISTEN/NOTIFY), the API process hears them and wakes its waiting callers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.jobs import ChatAnswer, JobStatus
from core.settings import load_settings
from persistence.answer_notices import PostgresNotices, RedisNotices, open_answer_notices
from persistence.db import SessionFactory
from persistence.job_lifecycle import store_answers, unfinished_jobs
from persistence.migrate import upgrade
from producers.api import create_app
from producers.stack import build_stack
from producers.waiters import SAFETY_RECHECK_S

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_notices_reach_a_listener_in_another_connection(kind: str, request: pytest.FixtureRequest):
    url = request.getfixturevalue(f"{kind}_url")
    make = RedisNotices if kind == "redis" else PostgresNotices
    heard: list[str] = []
    listener, speaker = make(url), make(url)
    listener.listen(heard.append)
    try:
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:  # the subscription takes a moment
            speaker.announce(["a", "b"])
            time.sleep(0.05)
        assert heard[:2] == ["a", "b"]
    finally:
        listener.close()
        speaker.close()


def test_a_waiting_caller_hears_of_an_answer_another_process_stores(redis_url: str, tmp_path: Path):
    # given an API on Redis with no worker, and a stand-in worker that answers the first job it sees
    settings = load_settings(broker_url=redis_url, redis_url=redis_url, var_dir=str(tmp_path))
    upgrade(settings.store_url)
    stack = build_stack(settings)
    stored_at: list[float] = []
    notices = RedisNotices(redis_url)
    worker = threading.Thread(target=_answer_first_job, args=(stack.factory, notices, stored_at))
    try:
        with TestClient(create_app(stack)) as client:
            time.sleep(0.3)  # the API's subscription is live
            worker.start()
            # when a caller waits up to 10 s for its answer
            response = client.post("/v1/messages?wait=10", json={"text": "hello", "language": "en"})
            heard_after = time.perf_counter() - stored_at[0]
        # expect the answer, heard through the notice rather than the once-a-second safety re-check
        assert response.status_code == 200 and response.json()["answer"] == "Hi!"
        assert heard_after < SAFETY_RECHECK_S
    finally:
        worker.join()
        stack.close()


def _answer_first_job(factory: SessionFactory, notices: RedisNotices, stored_at: list[float]) -> None:
    deadline = time.monotonic() + 10
    while not (jobs := unfinished_jobs(factory)) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the caller is waiting by now
    answer = ChatAnswer(job_id=jobs[0].job_id, text="Hi!", language="en", status=JobStatus.DONE)
    store_answers(factory, [answer])
    stored_at.append(time.perf_counter())
    notices.announce([answer.job_id])
    notices.close()


def test_the_fleet_picks_its_notices_from_its_services(redis_url: str, postgres_url: str, amqp_url: str):
    picks = {
        "embedded": load_settings(),
        "redis broker": load_settings(broker_url=redis_url),
        "rabbitmq + redis cache": load_settings(broker_url=amqp_url, redis_url=redis_url),
        "rabbitmq + postgres": load_settings(broker_url=amqp_url, database_url=postgres_url),
        "rabbitmq + sqlite": load_settings(broker_url=amqp_url),
    }
    kinds = {name: type(open_answer_notices(settings)).__name__ for name, settings in picks.items()}
    assert kinds == {
        "embedded": "LocalNotices",
        "redis broker": "RedisNotices",
        "rabbitmq + redis cache": "RedisNotices",
        "rabbitmq + postgres": "PostgresNotices",
        "rabbitmq + sqlite": "NoNotices",
    }
