"""The batch policy changes on a running worker through Celery remote control, no restart."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from persistence.migrate import upgrade
from tests.support.processes import BABELQ, babelq_env, babelq_process

pytestmark = pytest.mark.integration


def test_policy_is_read_and_changed_live(redis_url: str, tiny_model_dir: Path, tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'babelq.db'}"
    upgrade(store)
    env = babelq_env(
        broker_url=redis_url, database_url=store, model=str(tiny_model_dir), var_dir=str(tmp_path)
    )
    with babelq_process(["worker"], env, tmp_path / "worker.log", ready_marker="ready."):

        def policy(*args: str) -> dict:
            done = subprocess.run(
                [BABELQ, "batch-policy", *args], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            (reply,) = json.loads(done.stdout)
            return next(iter(reply.values()))

        assert policy()["ok"]["max_batch_size"] == 8
        changed = policy("--max-batch-size", "3", "--max-wait-ms", "5")
        assert changed["ok"] == {"max_batch_size": 3, "max_wait_ms": 5.0, "max_batch_tokens": 8192}
        assert changed["size_cap"] == 3
        assert policy()["ok"]["max_batch_size"] == 3


def test_invalid_policy_values_are_refused_before_sending(redis_url: str):
    done = subprocess.run(
        [BABELQ, "batch-policy", "--max-batch-size", "0"],
        env=babelq_env(broker_url=redis_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "max-batch-size" in done.stderr
