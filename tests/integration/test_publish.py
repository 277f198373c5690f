"""Publishing declares a job's queue once per broker connection, and again on a new connection."""

from __future__ import annotations

import pytest
from celery import Celery

from core.jobs import ChatJob, new_id
from core.settings import Settings
from routing.table import load_table
from tests.support.jobs import waiting_ids
from transport.celery_app import create_celery_app
from transport.queues import publish_job

pytestmark = pytest.mark.integration
QUEUE = "chat.en"


@pytest.fixture(params=["redis", "amqp"])
def app(request: pytest.FixtureRequest) -> Celery:
    url = str(request.getfixturevalue(f"{request.param}_url"))
    app = create_celery_app(Settings(broker_url=url), load_table(None))
    _delete_queue(app)
    # Celery shares its connection pool among apps of one broker URL (kombu.pools): start from a
    # new connection, or an earlier test's record of what it declared would still stand
    _reconnect(app)
    yield app
    _delete_queue(app)
    app.close()


def _job() -> ChatJob:
    return ChatJob(job_id=new_id(), conversation_id=new_id(), text="hello", language="en", queue=QUEUE)


def _delete_queue(app: Celery) -> None:
    """Remove the queue and its binding, as a broker that lost its state would have."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        queue = app.amqp.queues[QUEUE].bind(channel)
        queue.declare()
        queue.delete()
        bindings = channel.client.keys("_kombu.binding*") if hasattr(channel, "client") else []
        if bindings:  # Redis keeps bindings under keys of their own
            channel.client.delete(*bindings)


def _reconnect(app: Celery) -> None:
    """Make the pooled connection's next use a new connection."""
    with app.producer_or_acquire() as producer:
        producer.connection.collect()  # drops the transport and kombu's record of declarations


def test_a_new_connection_declares_the_queue_again(app: Celery):
    first, second = _job(), _job()
    publish_job(app, first)
    publish_job(app, first.model_copy(update={"job_id": new_id()}))  # same connection: no declare
    assert len(waiting_ids(app, QUEUE)) == 2
    _delete_queue(app)
    _reconnect(app)  # as after the broker restarted
    publish_job(app, second)
    assert waiting_ids(app, QUEUE) == [second.job_id]
