"""The batch policy changes on a running worker through Celery remote control, no restart."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from persistence.migrate import upgrade
from tests.support.processes import BABELQ, babelq_env, babelq_process
from tests.support.routes import routes_with

pytestmark = pytest.mark.integration


def _policy_command(env: dict[str, str]) -> Callable[..., tuple[int, dict]]:
    def policy(*args: str) -> tuple[int, dict]:
        command = [BABELQ, "batch-policy", *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        (reply,) = json.loads(done.stdout)
        return done.returncode, next(iter(reply.values()))

    return policy


def _worker_env(redis_url: str, tiny_model_dir: Path, tmp_path: Path, engine: str) -> dict[str, str]:
    store_url = f"sqlite:///{tmp_path / 'babelq.db'}"
    upgrade(store_url)
    routes = routes_with(tmp_path, engine=engine, max_batch_size=8)
    return babelq_env(
        broker_url=redis_url,
        database_url=store_url,
        model=str(tiny_model_dir),
        var_dir=str(tmp_path),
        routes_file=str(routes),
    )


def test_static_policy_is_read_and_changed_live(redis_url: str, tiny_model_dir: Path, tmp_path: Path):
    env = _worker_env(redis_url, tiny_model_dir, tmp_path, "static")
    with babelq_process(["worker"], env, tmp_path / "worker.log", ready_marker="ready."):
        policy = _policy_command(env)
        assert policy()[1]["ok"]["max_batch_size"] == 8
        code, changed = policy("--max-batch-size", "3", "--max-wait-ms", "5")
        assert code == 0
        assert changed["ok"] == {"max_batch_size": 3, "max_wait_ms": 5.0, "max_batch_tokens": 8192}
        assert changed["size_cap"] == 3
        assert policy()[1]["ok"]["max_batch_size"] == 3


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
