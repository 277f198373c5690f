"""RabbitMQ's side of the dead-letter queue: chat queues dead-letter to it through a dead-letter
exchange, quorum queues when chosen (with a delivery limit), and a queue declared earlier with
other arguments stops a worker with what to do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from celery import Celery

from core.errors import ConfigurationError
from core.jobs import ChatJob, new_id
from core.settings import load_settings
from persistence import views
from producers.messages import MessageIn
from producers.stack import Stack
from routing.table import load_table
from tests.support import store
from tests.support.jobs import fresh_stack
from tests.support.processes import BABELQ, babelq_env, babelq_process, wait_until
from tests.support.routes import DEFAULT_ROUTES
from transport.celery_app import create_celery_app
from transport.dead_letters import purge_dead_letters, walk_dead_letters
from transport.queues import declare_queues, publish_job

pytestmark = pytest.mark.integration


def _table(tmp_path: Path, prefix: str) -> Path:
    """The default table with queues of its own (so that the test may declare them as it likes)."""
    data = yaml.safe_load(DEFAULT_ROUTES.read_text(encoding="utf-8"))
    data["queues"] = {f"{prefix}.{name.split('.')[1]}": spec for name, spec in data["queues"].items()}
    data["fallback_queue"], data["dead_letter_queue"] = f"{prefix}.default", f"{prefix}.dead"
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _app(amqp_url: str, routes: Path, **values: str) -> Celery:
    settings = load_settings(broker_url=amqp_url, routes_file=str(routes), **values)
    return create_celery_app(settings, load_table(routes))


def _job(queue: str) -> ChatJob:
    return ChatJob(job_id=new_id(), conversation_id=new_id(), text="hello", language="en", queue=queue)


def _delete(app: Celery) -> None:
    with app.connection_for_write() as connection:
        for queue in app.conf.task_queues:
            connection.default_channel.queue_delete(queue.name)


def _deliver(app: Celery, queue: str, requeue: bool) -> None:
    with app.connection_for_write() as connection:
        message = app.amqp.queues[queue].bind(connection.default_channel).get(no_ack=False)
        assert message is not None
        message.reject(requeue=requeue)


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_message_rejected_without_requeue_lands_on_the_dead_letter_queue(
    amqp_url: str, tmp_path: Path, queue_type: str
):
    prefix = f"dlx{queue_type[0]}{new_id()[:6]}"
    app = _app(amqp_url, _table(tmp_path, prefix), rabbitmq_queue_type=queue_type)
    declare_queues(app)
    try:
        job = _job(f"{prefix}.en")
        publish_job(app, job)
        # a consumer that is not babelq's (or an older one) rejects it without requeue
        _deliver(app, job.queue, requeue=False)
        (letter,) = walk_dead_letters(app, f"{prefix}.dead")
        assert (letter.job_id, letter.reason, letter.queue) == (job.job_id, "rabbitmq: rejected", job.queue)
        assert letter.payload["text"] == "hello"
    finally:
        _delete(app)


def test_a_quorum_queue_dead_letters_a_message_delivered_past_its_limit(amqp_url: str, tmp_path: Path):
    prefix = f"dlq{new_id()[:6]}"
    app = _app(amqp_url, _table(tmp_path, prefix), rabbitmq_queue_type="quorum", rabbitmq_delivery_limit="2")
    declare_queues(app)
    try:
        job = _job(f"{prefix}.en")
        publish_job(app, job)
        for _ in range(3):  # each delivery kills its worker, say: the third is past the limit
            _deliver(app, job.queue, requeue=True)
        letters = walk_dead_letters(app, f"{prefix}.dead")
        assert [(x.job_id, x.reason) for x in letters] == [(job.job_id, "rabbitmq: delivery_limit")]
    finally:
        purge_dead_letters(app, f"{prefix}.dead")
        _delete(app)


def test_a_queue_with_other_arguments_stops_a_worker_with_what_to_do(amqp_url: str, tmp_path: Path):
    routes = _table(tmp_path, f"old{new_id()[:6]}")
    classic, quorum = _app(amqp_url, routes), _app(amqp_url, routes, rabbitmq_queue_type="quorum")
    declare_queues(classic)  # as an earlier deployment left them
    try:
        with pytest.raises(ConfigurationError, match="queues declare --recreate-empty"):
            declare_queues(quorum)
        env = babelq_env(
            broker_url=amqp_url,
            routes_file=str(routes),
            rabbitmq_queue_type="quorum",
            database_url=f"sqlite:///{tmp_path / 'b.db'}",
        )
        worker = subprocess.run([BABELQ, "worker"], env=env, capture_output=True, text=True, timeout=120)
        assert worker.returncode == 2 and "exists with other arguments" in worker.stderr
        # empty, they are declared anew on request
        done = subprocess.run(
            [BABELQ, "queues", "declare", "--recreate-empty"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and "recreated" in done.stdout, done.stderr
        declare_queues(quorum)
    finally:
        _delete(classic)


def test_a_worker_answers_from_quorum_queues(amqp_url: str, tmp_path: Path, tiny_model_dir: Path):
    routes = _table(tmp_path, f"qw{new_id()[:6]}")
    values = {
        "broker_url": amqp_url,
        "routes_file": str(routes),
        "rabbitmq_queue_type": "quorum",
        "database_url": f"sqlite:///{tmp_path / 'b.db'}",
        "model": str(tiny_model_dir),
        "max_new_tokens": "8",
        "var_dir": str(tmp_path / "var"),
    }
    stack = fresh_stack(values)
    try:
        with babelq_process(["worker"], babelq_env(**values), tmp_path / "worker.log", "ready."):
            job = stack.intake.submit(MessageIn(text="Where is my parcel?", language="en")).job
            # a retry's countdown is held by the worker: quorum queues take no global prefetch
            later = _job(job.queue)
            store.record_user_turn(stack.factory, later, "explicit")
            publish_job(stack.celery, later, countdown=1.0)
            wait_until(
                lambda: _done(stack, [job.job_id, later.job_id]), 60, "answers", tmp_path / "worker.log"
            )
    finally:
        _delete(stack.celery)
        stack.close()


def _done(stack: Stack, ids: list[str]) -> bool:
    return all(
        (view := views.get_job(stack.factory, i)) is not None and view.status.value == "done" for i in ids
    )
