"""The `babelq` commands a user runs, as separate processes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect

from core.jobs import ChatJob, new_id
from persistence.db import make_engine
from tests.support.jobs import fresh_stack
from tests.support.processes import BABELQ, babelq_env, babelq_process, wait_until
from tests.support.services import free_port
from transport.queues import publish_job

pytestmark = pytest.mark.integration


def babelq(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BABELQ, *args], env=babelq_env(**settings), capture_output=True, text=True, timeout=120
    )


def test_routes_prints_the_effective_table():
    done = babelq("routes")
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)
    assert table["languages"]["zh"] == "chat.zh" and table["languages"]["de"] == "chat.default"
    assert set(table["queues"]) == {"chat.zh", "chat.en", "chat.es", "chat.default"}


def test_routes_refuses_a_broken_table_naming_each_problem(tmp_path: Path):
    broken = tmp_path / "routes.yaml"
    broken.write_text("queues: {}\n", encoding="utf-8")
    done = babelq("routes", routes_file=str(broken))
    assert done.returncode == 2
    assert "babelq: error: routing table: 2 problems:" in done.stderr
    assert (
        "  profiles: Field required" in done.stderr
        and "  queues: Dictionary should have at least 1" in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_db_upgrade_creates_the_tables(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    done = babelq("db", "upgrade", database_url=url)
    assert done.returncode == 0, done.stderr
    assert {"conversations", "messages", "jobs"} <= set(inspect(make_engine(url)).get_table_names())


def test_worker_and_api_refuse_the_embedded_broker_with_advice():
    done = babelq("worker")
    assert done.returncode == 2
    assert "BABELQ_BROKER_URL=redis://" in done.stderr and "babelq run" in done.stderr


def test_bad_settings_are_one_clear_line():
    done = babelq("routes", max_new_tokens="lots")
    assert done.returncode == 2
    assert "BABELQ_MAX_NEW_TOKENS" in done.stderr and "Traceback" not in done.stderr


def test_flower_serves_the_same_broker_behind_basic_auth(redis_url: str, tmp_path: Path):
    port = free_port()
    env = babelq_env(broker_url=redis_url, flower_port=str(port), flower_basic_auth="ops:s3cret")
    with babelq_process(["flower"], env, tmp_path / "flower.log", ready_marker="Visit me at", timeout=60):
        url = f"http://127.0.0.1:{port}/api/workers"
        assert httpx.get(url, timeout=10).status_code == 401
        response = httpx.get(url, auth=("ops", "s3cret"), timeout=10)
        assert response.status_code == 200
        # its own Prometheus metrics, which the compose Prometheus scrapes without a login
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert metrics.status_code == 200 and "flower_" in metrics.text


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_flower_shows_the_language_queues_with_their_lengths(
    broker: str, request: pytest.FixtureRequest, tmp_path: Path
):
    # given three jobs waiting on chat.es and no worker
    values = {
        "broker_url": request.getfixturevalue(f"{broker}_url"),
        "database_url": f"sqlite:///{tmp_path}/b.db",
    }
    stack = fresh_stack(values)
    jobs = [
        ChatJob(job_id=new_id(), conversation_id=new_id(), text="hola", language="es", queue="chat.es")
        for _ in range(3)
    ]
    for job in jobs:
        publish_job(stack.celery, job)
    stack.close()
    port = free_port()
    env = babelq_env(**values, flower_port=str(port), flower_basic_auth="ops:s3cret")
    with babelq_process(["flower"], env, tmp_path / "flower.log", ready_marker="Visit me at", timeout=60):
        # expect Flower to list every language queue with its length (RabbitMQ: its management API)
        url = f"http://127.0.0.1:{port}/api/queues/length"

        def lengths() -> dict[str, int]:
            queues = httpx.get(url, auth=("ops", "s3cret"), timeout=20).json()["active_queues"]
            return {queue["name"]: queue["messages"] for queue in queues}

        assert {"chat.zh", "chat.en", "chat.es", "chat.default"} <= set(lengths())
        # RabbitMQ's management API refreshes its counts every few seconds
        wait_until(lambda: lengths()["chat.es"] == 3, 30, "chat.es length", tmp_path / "flower.log")


def test_api_runs_several_processes_on_one_port(redis_url: str, tmp_path: Path):
    # given `babelq api --workers 2` on Redis
    port = free_port()
    env = babelq_env(broker_url=redis_url, api_port=str(port), var_dir=str(tmp_path))
    assert babelq("db", "upgrade", var_dir=str(tmp_path)).returncode == 0
    log = tmp_path / "api.log"
    with babelq_process(["api", "--workers", "2"], env, log, ready_marker="Application startup complete"):
        started = "Application startup complete"
        wait_until(lambda: log.read_text(errors="replace").count(started) >= 2, 60, "both processes", log)
        # expect two server processes, and the API answering through them
        assert len(set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))) == 2
        url = f"http://127.0.0.1:{port}"
        statuses = [
            httpx.post(f"{url}/v1/messages", json={"text": f"hi {i}"}, timeout=10).status_code
            for i in range(4)
        ]
        assert statuses == [202] * 4
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        # and /metrics adds both processes' counters up, whichever process answers the scrape
        for _ in range(4):
            text = httpx.get(f"{url}/metrics", timeout=10).text
            accepted = [line for line in text.splitlines() if line.startswith("babelq_jobs_accepted_total{")]
            assert sum(float(line.rsplit(" ", 1)[1]) for line in accepted) == 4, accepted
