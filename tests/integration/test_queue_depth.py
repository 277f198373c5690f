"""True queue depth on both brokers: jobs a worker holds unfinished count as unacked, not zero."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from persistence import views
from tests.support.jobs import fresh_stack, publish_english_jobs
from tests.support.processes import BABELQ, SCRIPTED_WORKER, babelq_env, babelq_process, wait_until
from tests.support.routes import routes_with
from transport.queue_depth import Depth, QueueDepths

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_a_worker_holding_unfinished_jobs_shows_them_as_unacked(
    broker: str, request: pytest.FixtureRequest, tiny_model_dir: Path, tmp_path: Path
):
    values = {
        "broker_url": request.getfixturevalue(f"{broker}_url"),
        "database_url": f"sqlite:///{tmp_path}/b.db",
        "model": str(tiny_model_dir),
        "max_new_tokens": "4",
        "var_dir": str(tmp_path / "var"),
        "routes_file": str(routes_with(tmp_path, engine="static")),
    }
    stack = fresh_stack(values)
    depths = QueueDepths(stack.celery, ["chat.en"])
    # its first batch outlasts the check (a read of the depth), and stopping it costs two batches
    env = {**babelq_env(**values), "SCRIPTED_BATCH_DELAY_S": "5"}
    log = tmp_path / "worker.log"
    try:
        with babelq_process(["worker", "--queues", "chat.en"], env, log, "ready.", program=SCRIPTED_WORKER):
            before = _depth(depths)  # the broker is shared: other tests' leftovers count too
            jobs = publish_english_jobs(stack, 40)
            wait_until(lambda: _running(stack, jobs) >= 32, 30, "jobs held by the worker", log)
            # held (a batch of 32 running, the rest waiting for the next): all unacked, none ready
            held = Depth("chat.en", before.ready, (before.unacked or 0) + 40)
            wait_until(lambda: _depth(depths) == held, 30, "the depth", log)
    finally:
        stack.close()


def _depth(depths: QueueDepths) -> Depth:
    (depth,) = depths.read()
    return depth


def _running(stack, jobs) -> int:  # type: ignore[no-untyped-def]
    return sum(
        1 for job in jobs if (v := views.get_job(stack.factory, job.job_id)) and v.status.value == "running"
    )


def test_babelq_top_once_shows_the_queues_and_says_when_no_worker_replies(redis_url: str, tmp_path: Path):
    values = {"broker_url": redis_url, "database_url": f"sqlite:///{tmp_path}/b.db"}
    stack = fresh_stack(values)
    publish_english_jobs(stack, 3)
    stack.close()
    env = babelq_env(**values)
    shown = subprocess.run([BABELQ, "top", "--once"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    line = next(line for line in shown.stdout.splitlines() if "chat.en" in line)
    assert line.split("│")[2].strip() == "3"  # ready
    assert "no worker replied" in shown.stdout
