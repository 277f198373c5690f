"""A zh, an en and an es message go API → real broker → `babelq worker` → store and come back.

Runs on Redis and RabbitMQ, each with SQLite and PostgreSQL; the API runs in-process (TestClient)
and the worker is a real separate process, so every job crosses the broker. Messages are sent and
read through the Python client, as a user would; the HTTP contract itself is read raw.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.jobs import ChatJob, new_id
from persistence import views
from persistence.partial_answers import PartialAnswers, open_partial_answers
from producers.api import create_app
from producers.client import Client
from producers.schemas import JobOut
from producers.stack import Stack
from tests.support import store
from tests.support.api import TESTCLIENT_TIMEOUTS, answered, in_process, roles
from tests.support.jobs import fresh_stack
from tests.support.processes import babelq_env, babelq_process, wait_until
from transport.dead_letters import purge_dead_letters, walk_dead_letters
from transport.queues import ANSWER_TASK, publish_job

pytestmark = [pytest.mark.integration, TESTCLIENT_TIMEOUTS]

MESSAGES = {
    "zh": "你好，我的订单还没有到，请问什么时候发货？",
    "en": "Hello, my order has not arrived yet. When will it ship?",
    "es": "Hola, mi pedido todavía no ha llegado. ¿Cuándo lo envían?",
}


@dataclass
class Deployment:
    stack: Stack
    client: TestClient  # raw HTTP, for the tests of the HTTP contract itself
    api: Client  # the same app through the Python client
    worker_log: Path

    def done(self, job_id: str, timeout: float, what: str) -> JobOut:
        """The job, done within `timeout` (long-polled through the client); if not, the worker's log."""
        job = self.api.wait(job_id, timeout)
        assert job.status == "done", f"{what}: {job.status} after {timeout}s\n{_tail(self.worker_log)}"
        return job


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


@pytest.fixture(
    scope="module",
    ids=lambda p: f"{p[0]}+{p[1]}",
    params=[("redis", "sqlite"), ("redis", "postgres"), ("amqp", "sqlite"), ("amqp", "postgres")],
)
def deployment(
    request, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """One worker process per broker/store pair, shared by the tests of this module."""
    broker, store_kind = request.param
    tmp_path = tmp_path_factory.mktemp(f"{broker}-{store_kind}")
    broker_url = request.getfixturevalue(f"{broker}_url")
    store_url = (
        request.getfixturevalue("postgres_url")
        if store_kind == "postgres"
        else f"sqlite:///{tmp_path}/babelq.db"
    )
    values = dict(
        broker_url=broker_url,
        database_url=store_url,
        model=str(tiny_model_dir),
        max_new_tokens="8",
        var_dir=str(tmp_path / "var"),
    )
    stack = fresh_stack(values)
    log = tmp_path / "worker.log"
    with (
        babelq_process(["worker"], babelq_env(**values), log, ready_marker="ready."),
        TestClient(create_app(stack)) as client,
    ):
        yield Deployment(stack, client, in_process(client), log)
    stack.close()


def test_zh_en_es_messages_are_answered_through_the_broker(deployment: Deployment):
    for language, text in MESSAGES.items():
        job = answered(deployment.api.send(text, channel="web", wait=60))
        assert job.status == "done"
        assert job.language == language
        assert job.queue == f"chat.{language}"
        assert job.answer
        assert job.worker is not None and job.worker.startswith("cpu-")
        conversation = deployment.api.conversation(job.conversation_id)
        assert roles(conversation) == ["user", "assistant"]
        assert conversation.turns[0].text == text


def test_a_streamed_job_reports_its_answer_as_it_is_generated(deployment: Deployment):
    """API marks the job → the worker process sees the mark → its runner's texts travel over
    Redis. Heard by a listener subscribed before the job is posted, so no text can be missed.
    Where the fleet has no Redis (RabbitMQ alone) nothing is streamed, and the answer still comes."""
    settings = deployment.stack.settings
    heard: list[str] = []
    listener = open_partial_answers(settings)
    try:
        if listener.live:
            listener.listen(lambda job_id, text: heard.append(job_id))
            wait_until(lambda: _subscribed(listener, heard), 5, "the subscription")
        sent = answered(deployment.api.send(MESSAGES["es"], stream=True, wait=60))
        assert sent.status == "done" and sent.answer
        if listener.live:
            wait_until(lambda: sent.job_id in heard, 5, "a partial answer of the job")
    finally:
        listener.close()
    assert listener.live == settings.broker_url.startswith("redis")


def _subscribed(partials: PartialAnswers, heard: list[str]) -> bool:
    partials.report("probe", "probe")
    time.sleep(0.05)
    return "probe" in heard


def test_one_word_follow_up_keeps_the_conversation_language(deployment: Deployment):
    first = deployment.api.send(MESSAGES["es"], wait=60)
    follow = answered(deployment.api.send("ok", conversation_id=first.conversation_id, wait=60))
    assert follow.status == "done"
    assert (follow.language, follow.queue, follow.language_source) == ("es", "chat.es", "conversation")
    conversation = deployment.api.conversation(first.conversation_id)
    assert roles(conversation) == ["user", "assistant", "user", "assistant"]


def test_the_same_job_delivered_twice_stores_one_answer(deployment: Deployment):
    accepted = deployment.api.send(MESSAGES["en"])
    view = views.get_job(deployment.stack.factory, accepted.job_id)
    assert view is not None
    duplicate = ChatJob(
        job_id=view.job_id,
        conversation_id=view.conversation_id,
        text=MESSAGES["en"],
        language=view.language,
        queue=view.queue,
    )
    publish_job(deployment.stack.celery, duplicate)  # the broker now holds the same job twice
    finished = f"[{view.job_id}] succeeded"
    wait_until(
        lambda: deployment.worker_log.read_text(errors="replace").count(finished) >= 2,
        60,
        "both deliveries handled",
        deployment.worker_log,
    )
    assert roles(deployment.api.conversation(view.conversation_id)) == ["user", "assistant"]
    assert deployment.api.job(view.job_id).status == "done"


def test_unknown_job_is_404_and_bad_input_stores_nothing(deployment: Deployment):
    # raw HTTP: the status codes and the error body are the contract under test
    assert deployment.client.get(f"/v1/jobs/{new_id()}").status_code == 404
    cid = new_id()
    response = deployment.client.post("/v1/messages", json={"text": "  ", "conversation_id": cid})
    assert response.status_code == 422
    assert "empty" in response.text
    assert deployment.client.get(f"/v1/conversations/{cid}").status_code == 404


def test_a_jobs_life_shows_in_the_task_events_flower_reads(deployment: Deployment):
    app = deployment.stack.celery
    seen: dict[str, list[str]] = {}
    ready = threading.Event()

    def listen() -> None:
        with app.connection() as connection:
            receiver = app.events.Receiver(
                connection,
                handlers={
                    "*": lambda event: seen.setdefault(event.get("uuid", ""), []).append(event["type"])
                },
            )
            ready.set()
            with contextlib.suppress(Exception):  # the capture ends with the test (its timeout)
                receiver.capture(limit=None, timeout=30, wakeup=True)

    threading.Thread(target=listen, daemon=True).start()
    assert ready.wait(10)
    app.control.enable_events()  # what Flower asks of every worker when it starts
    try:
        time.sleep(1)  # the worker has switched its events on
        job_id = deployment.api.send(MESSAGES["en"]).job_id
        lifecycle = ["task-received", "task-started", "task-succeeded"]
        wait_until(
            lambda: lifecycle == [t for t in seen.get(job_id, []) if t in lifecycle],
            30,
            "the job's task events",
            deployment.worker_log,
        )
    finally:
        app.control.disable_events()


def test_a_message_that_is_no_job_goes_to_the_dead_letter_queue(deployment: Deployment):
    app = deployment.stack.celery
    letter_job = new_id()
    app.send_task(
        ANSWER_TASK,
        args=[{"v": 1, "job_id": letter_job, "text": 3}],
        queue="chat.en",
        routing_key="chat.en",
        task_id=letter_job,
    )
    newer = {"v": 99, "job_id": new_id(), "text": "from a newer producer"}
    app.send_task(ANSWER_TASK, args=[newer], queue="chat.en", routing_key="chat.en", task_id=newer["job_id"])

    def reasons() -> dict[str | None, str]:
        return {letter.job_id: letter.reason for letter in walk_dead_letters(app, "chat.dead")}

    wait_until(
        lambda: {letter_job, newer["job_id"]} <= set(reasons()), 30, "two dead letters", deployment.worker_log
    )
    assert reasons()[letter_job] == "malformed" and reasons()[newer["job_id"]] == "unsupported version"
    purge_dead_letters(app, "chat.dead")


def test_an_unknown_task_and_an_undecodable_body_go_to_the_dead_letter_queue(deployment: Deployment):
    app = deployment.stack.celery
    purge_dead_letters(app, "chat.dead")
    unknown = app.send_task("babelq.no_such_task", args=[{"v": 1}], queue="chat.en", routing_key="chat.en")
    garbled = new_id()
    with app.producer_or_acquire() as producer:
        producer.publish(
            b"{this is not json",
            content_type="application/json",
            content_encoding="utf-8",
            headers={"task": ANSWER_TASK, "id": garbled, "lang": "py"},
            exchange="",
            routing_key="chat.en",
            declare=[app.amqp.queues["chat.en"]],
        )

    def letters() -> dict[str, tuple[str, object]]:
        found = walk_dead_letters(app, "chat.dead")
        return {letter.payload["headers"]["id"]: (letter.reason, letter.payload) for letter in found}

    wait_until(lambda: {unknown.id, garbled} <= set(letters()), 30, "two dead letters", deployment.worker_log)
    reason, payload = letters()[unknown.id]
    assert reason == "unknown task" and payload["headers"]["task"] == "babelq.no_such_task"  # type: ignore[index]
    reason, payload = letters()[garbled]
    assert reason == "undecodable" and payload["body"] == "{this is not json"  # type: ignore[index]
    # the worker goes on answering
    deployment.done(deployment.api.send(MESSAGES["en"]).job_id, 30, "an answer after the dead letters")
    purge_dead_letters(app, "chat.dead")


def test_a_retry_held_back_by_its_countdown_starts_only_then(deployment: Deployment):
    accepted = deployment.api.send(MESSAGES["en"])
    deployment.done(accepted.job_id, 30, "the first answer")
    # a follow-up published the way a worker publishes a retry: with a countdown (backoff)
    follow_up = ChatJob(
        job_id=new_id(),
        conversation_id=accepted.conversation_id,
        text="And when?",
        language="en",
        queue=accepted.queue,
    )
    store.record_user_turn(deployment.stack.factory, follow_up, "explicit")
    publish_job(deployment.stack.celery, follow_up, retries=1, countdown=2.0)
    queued_ms = deployment.done(follow_up.job_id, 30, "the held job's answer").timings.queued_ms
    assert queued_ms is not None and queued_ms >= 1800  # not started before its countdown was over
