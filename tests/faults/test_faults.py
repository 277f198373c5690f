"""The fault suite: each scenario of `babelq faults` on real processes, brokers and PostgreSQL,
with the shipped recovery settings, under a load of 50 jobs. Target in every row: nothing lost,
nothing answered twice, every job final within two minutes of the fault clearing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.faults.harness import FaultSetup
from ops.faults.runner import choose, run_scenario
from ops.faults.scenarios import POISON
from tests.support.processes import SCRIPTED_WORKER

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(420)]
JOBS = 50


@pytest.fixture
def setup(
    redis_url: str, amqp_url: str, postgres_url: str, tiny_model_dir: Path, tmp_path: Path
) -> FaultSetup:
    return FaultSetup(
        brokers={"redis": redis_url, "amqp": amqp_url},
        database_url=postgres_url,
        model=str(tiny_model_dir),
        workdir=tmp_path,
        worker_program=tuple(SCRIPTED_WORKER),
        jobs=JOBS,
        settings={"max_new_tokens": "8"},
        # batches last half a second, so that a fault lands while one runs
        worker_env={"SCRIPTED_BATCH_DELAY_S": "0.5", "SCRIPTED_POISON_TEXT": POISON},
    )


@pytest.mark.parametrize(
    ("name", "broker"),
    [
        ("worker-kill-9", "redis"),
        ("worker-kill-9", "amqp"),
        pytest.param("worker-frozen-kill-9", "redis", marks=pytest.mark.long),
        pytest.param("worker-frozen-kill-9", "amqp", marks=pytest.mark.long),
        ("worker-sigterm", "redis"),
        ("worker-sigterm", "amqp"),
        ("broker-restart", "redis"),
        ("broker-restart", "amqp"),
        ("store-down-10s", "redis"),
        ("store-down-publishing", "redis"),
        ("bad-messages", "redis"),
        ("bad-messages", "amqp"),
        ("embedded-kill-9", "memory"),
    ],
)
def test_every_job_ends_once_within_the_target(setup: FaultSetup, name: str, broker: str):
    row = run_scenario(setup, choose([name])[0], broker)
    assert (row.published, row.answered_once, row.lost, row.duplicated) == (JOBS, JOBS, 0, 0), row
    assert row.met, row
    if name == "bad-messages":
        assert row.other_letters == 4, row  # malformed, newer version, unknown task, undecodable
    if name.startswith("worker-") and name.endswith("kill-9"):
        # on Redis too, whose visibility timeout is an hour: the heartbeats bring them back
        assert row.last_final_s is not None and row.last_final_s < 60, row


def test_a_poison_prompt_is_dead_lettered_alone(setup: FaultSetup):
    # with the shipped retry limit: a job that failed alone among healthy batch-mates gets few retries
    row = run_scenario(setup, choose(["poison-prompt"])[0], "redis")
    assert (row.answered_once, row.dead_lettered, row.failed, row.lost, row.duplicated) == (
        JOBS - 1,
        1,
        0,
        0,
        0,
    )
    assert row.met, row
