"""`babelq bench` end to end with the null runner: it starts what it needs and writes its report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import BABELQ, babelq_env
from tests.support.services import free_port

pytestmark = pytest.mark.integration
FIELDS = {
    "offered_rate",
    "throughput_jobs_s",
    "direct_jobs_s",
    "efficiency",
    "latency_ms",
    "queue_wait_ms",
    "batch_size",
    "model_busy_fraction",
}


def bench(tmp_path: Path, *args: str, **settings: str) -> dict:
    out = tmp_path / "out"
    env = babelq_env(var_dir=str(tmp_path / "var"), api_port=str(free_port()), **settings)
    done = subprocess.run(
        [BABELQ, "bench", "--runner", "null", "--duration", "2", "--out", str(out), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (out / "bench.png").stat().st_size > 10_000
    return dict(json.loads((out / "bench.json").read_text()))


def test_publisher_path_on_redis_reports_every_field(redis_url: str, tmp_path: Path):
    result = bench(tmp_path, "--path", "publish", "--rate", "40", broker_url=redis_url)
    assert set(result) >= FIELDS
    assert result["completed"] == result["jobs"] > 40
    assert result["latency_ms"]["p50"] > 0 and result["batch_size"]["mean"] >= 1
    assert result["config"]["broker"] == "redis" and result["config"]["path"] == "publish"


def test_http_path_on_the_embedded_stack_holds_waiting_callers_beside_the_load(tmp_path: Path):
    # one embedded stack for both: the HTTP load, and 30 callers re-asking after each 2 s wait
    result = bench(tmp_path, "--path", "http", "--rate", "30", "--waiters", "30", max_wait_s="2")
    assert result["completed"] == result["jobs"] > 30
    assert result["send_errors"] == 0
    assert result["config"]["broker"] == "memory"
    assert result["processes"]["run"]["cpu_cores"] > 0 and result["processes"]["run"]["rss_mib_end"] > 50
    # for the whole run (2 s and the drain)
    assert result["runs"][0]["waiters"]["requests"] >= 30 and result["runs"][0]["waiters"]["errors"] == 0
    heard = result["heard_after_stored_ms"]
    assert heard is not None and 0 <= heard["p50"] <= heard["max"] < 1000


def test_publisher_path_needs_a_shared_broker(tmp_path: Path):
    command = [BABELQ, "bench", "--runner", "null", "--path", "publish", "--rate", "5"]
    done = subprocess.run(
        command, env=babelq_env(var_dir=str(tmp_path)), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "needs a shared broker" in done.stderr
