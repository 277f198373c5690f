"""`babelq run`: the embedded stack answers real messages through real Celery tasks.

The process is started exactly as `make run` starts it (minus the model download: it uses the
tiny test model), on a free port, with no Redis, RabbitMQ or PostgreSQL involved.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from producers.client import AsyncClient, Client
from tests.support.api import answered, queued
from tests.support.processes import BABELQ, babelq_env, babelq_process
from tests.support.services import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def embedded(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("embedded")
    port = free_port()
    env = babelq_env(
        model=str(tiny_model_dir), max_new_tokens="8", var_dir=str(home / "var"), api_port=str(port)
    )
    with babelq_process(["run"], env, home / "run.log", ready_marker="ready.", timeout=120):
        yield f"http://127.0.0.1:{port}", env


def test_embedded_stack_answers_through_celery(embedded):
    url, _ = embedded
    with httpx.Client(base_url=url, timeout=90) as http:
        assert http.get("/readyz").json()["broker"] == "ok"  # (no client method: read raw)
        job = answered(Client(http=http).send("¿Dónde está mi pedido? Lo pedí hace una semana.", wait=60))
    assert job.status == "done"
    assert job.language == "es" and job.queue == "chat.es"
    assert job.answer
    assert job.worker is not None and job.worker.startswith("embedded-")  # answered by the Celery worker node
    assert job.batch_size is not None and job.batch_size >= 1


def test_embedded_stack_reports_queued_jobs_and_unknown_ones(embedded):
    url, _ = embedded
    with httpx.Client(base_url=url, timeout=30) as client:
        accepted = queued(Client(http=client).send("Bonjour, ma commande n'est pas arrivée."))
        assert (accepted.language, accepted.queue, accepted.status) == ("fr", "chat.default", "queued")
        # raw HTTP: an unknown id and a body that is no JSON are the HTTP contract itself
        assert client.get("/v1/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
        assert (
            client.post(
                "/v1/messages", content=b"{not json", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )


def test_publish_cli_sends_jsonl_through_the_embedded_api(embedded, tmp_path: Path):
    _, env = embedded
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            json.dumps(m)
            for m in [
                {"text": "Where is my invoice for last month?"},
                {"text": "我的退款什么时候到账？", "channel": "cli"},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [BABELQ, "publish", str(source), "--wait", "--out", str(out), "--timeout", "90"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["language"] for r in results] == ["en", "zh"]
    assert all(r["status"] == "done" and r["answer"] for r in results)
    # the file again, resumed: nothing left to publish (the journal holds both lines)
    command = [BABELQ, "publish", str(source), "--resume"]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "2 line(s) already published, 0 to go" in again.stderr


def test_publish_cli_refuses_a_file_with_a_bad_line_and_publishes_nothing(embedded, tmp_path: Path):
    _, env = embedded
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "fine"}\n{"text": ""}\nnot json\n', encoding="utf-8")
    done = subprocess.run(
        [BABELQ, "publish", str(source)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "line 2" in done.stderr and "line 3" in done.stderr and "nothing published" in done.stderr


def test_restart_answers_jobs_the_in_memory_broker_lost(tiny_model_dir: Path, tmp_path: Path):
    # Given a store holding a queued job that no broker knows about (the last run stopped)
    from core.jobs import ChatJob, new_id
    from core.settings import load_settings
    from persistence.db import make_engine, make_session_factory
    from persistence.migrate import upgrade
    from tests.support import store

    settings = load_settings(var_dir=str(tmp_path / "var"))
    upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    factory = make_session_factory(engine)
    job = ChatJob(
        job_id=new_id(), conversation_id=new_id(), text="Where is my parcel?", language="en", queue="chat.en"
    )
    store.record_user_turn(factory, job, "detected")
    # When the embedded stack starts again on that store
    port = free_port()
    env = babelq_env(
        model=str(tiny_model_dir), max_new_tokens="4", var_dir=str(tmp_path / "var"), api_port=str(port)
    )
    # Expect the job to be answered without anyone sending it again
    with (
        babelq_process(["run"], env, tmp_path / "run.log", ready_marker="ready.", timeout=120),
        Client(f"http://127.0.0.1:{port}") as client,
    ):
        assert client.wait(job.job_id, timeout=30).status == "done"
    assert "re-published 1 unfinished jobs" in (tmp_path / "run.log").read_text()
    engine.dispose()


def test_a_job_streams_its_status_changes_and_its_answer(embedded):
    """GET /v1/jobs/{id}/events through the Python client: status events in the job's order,
    ending with the answer; the async client reads the same stream."""
    url, _ = embedded
    with Client(url) as client:
        sent = client.send("Hallo, wo ist meine Bestellung? Ich warte seit Tagen.")
        events = list(client.stream(sent.job_id, timeout=90))
    statuses = [event.data["status"] for event in events if event.kind == "status"]
    assert statuses[-1] == "done"
    order = ["queued", "running", "done"]
    assert [order.index(s) for s in statuses] == sorted({order.index(s) for s in statuses})
    assert events[-1].kind == "answer" and events[-1].data["answer"]
    assert events[-1].data["job_id"] == sent.job_id

    async def again() -> list[str]:
        async with AsyncClient(url) as client:
            return [event.kind async for event in client.stream(sent.job_id, timeout=30)]

    assert asyncio.run(again()) == ["status", "answer"]  # already done: its state, then its answer


def test_a_streamed_job_shows_its_answer_growing_before_the_answer(embedded):
    """Posted with `stream`, its stream carries `token` events, the answer so far, each one
    extending the last, before the answer. The stream opens after the POST returns: a job that
    was over by then shows no tokens, so the test sends until one is caught mid-way."""
    url, _ = embedded
    with Client(url) as client:
        for attempt in range(10):
            sent = client.send(f"Hola, ¿dónde está mi pedido número {attempt}?", stream=True)
            events = list(client.stream(sent.job_id, timeout=90))
            tokens = [event.data for event in events if event.kind == "token"]
            if tokens:
                break
    assert tokens, "no stream caught its job before it ended in 10 tries"
    assert events[-1].kind == "answer" and events[-1].data["status"] == "done"
    texts = [token["text"] for token in tokens]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))
    assert "".join(token["delta"] for token in tokens) == texts[-1]
