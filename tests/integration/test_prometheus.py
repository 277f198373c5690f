"""A real Prometheus scrapes a running API and worker with the shipped scrape config (only the
targets and the scrape interval changed), loads the shipped rules, and every query of the shipped
Grafana dashboard evaluates; those a CPU machine can feed return data."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ops import scale_command
from ops.faults.services import free_port
from ops.scaling import ScalingPolicy
from tests.support.jobs import fresh_stack
from tests.support.processes import babelq_env, babelq_process, wait_until

pytestmark = pytest.mark.integration
OPS = Path(__file__).resolve().parents[2] / "ops"
NO_DATA_ON_A_CPU = ("babelq_gpu_", "babelq_dead_letters")  # no GPU here; letters only after a fault
PROMETHEUS = shutil.which("prometheus")


def _config(tmp_path: Path, api_port: int, worker_port: int) -> Path:
    """The shipped config with this test's targets: the same jobs, paths and rule files."""
    config = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = "1s"
    config.pop("alerting")  # no Alertmanager here
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["babelq-api"]["static_configs"] = [{"targets": [f"127.0.0.1:{api_port}"]}]
    del jobs["babelq-workers"]["dns_sd_configs"]
    jobs["babelq-workers"]["static_configs"] = [{"targets": [f"127.0.0.1:{worker_port}"]}]
    config["scrape_configs"] = [jobs["babelq-api"], jobs["babelq-workers"]]
    shutil.copy(OPS / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@contextmanager
def _prometheus(config: Path, tmp_path: Path) -> Iterator[str]:
    if PROMETHEUS is None:
        pytest.skip("the prometheus binary is not installed (apt install prometheus)")
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), 30, "prometheus ready", tmp_path / "prometheus.log")
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(
        f"{url}/api/v1/query?query={urllib.parse.quote(expr)}", timeout=5
    ) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _dashboard_queries() -> list[str]:
    dashboard = json.loads((OPS / "grafana" / "dashboards" / "babelq.json").read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_prometheus_scrapes_the_api_and_a_worker_and_every_dashboard_query_evaluates(
    redis_url: str, tiny_model_dir: Path, tmp_path: Path
):
    api_port, worker_port = free_port(), free_port()
    values = {
        "broker_url": redis_url,
        "database_url": f"sqlite:///{tmp_path}/b.db",
        "model": str(tiny_model_dir),
        "max_new_tokens": "8",
        "var_dir": str(tmp_path / "var"),
        "api_port": str(api_port),
        "worker_metrics_port": str(worker_port),
    }
    fresh_stack(values).close()
    env = babelq_env(**values)
    with (
        babelq_process(["api"], env, tmp_path / "api.log", "Application startup complete"),
        babelq_process(["worker"], env, tmp_path / "worker.log", "ready."),
        _prometheus(_config(tmp_path, api_port, worker_port), tmp_path) as prometheus,
    ):
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as client:
            for i in range(20):
                text = {"text": f"Where is my parcel {i}? It is late.", "language": ["en", "es"][i % 2]}
                assert client.post("/v1/messages?wait=10", json=text).status_code in (200, 202)
        rules = json.loads(urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=5).read())
        assert sum(len(group["rules"]) for group in rules["data"]["groups"]) == 9
        # the alert table's P99 query, the true depth, and every panel of the dashboard
        wait_until(lambda: bool(_query(prometheus, 'up{job="babelq-workers"} == 1')), 30, "worker scraped")
        for expr in _dashboard_queries():
            if any(name in expr for name in NO_DATA_ON_A_CPU):
                _query(prometheus, expr)  # valid, and empty here
                continue
            wait_until(
                lambda e=expr: bool(_query(prometheus, e)), 60, f"data for {expr}", tmp_path / "worker.log"
            )
        depth = _query(prometheus, 'babelq_queue_messages{queue="chat.en"}')
        assert {sample["metric"]["state"] for sample in depth} == {"ready", "unacked"}
        _check_scale_reads_the_fleet(prometheus, api_port, tmp_path)


def _check_scale_reads_the_fleet(prometheus: str, api_port: int, tmp_path: Path) -> None:
    """`babelq scale` against the same Prometheus: one live worker, load samples read through its
    own query, and (a minute of history, not ten) a hold that says why."""
    assert scale_command.live_workers(prometheus) == 1

    def loaded() -> bool:
        # Jobs keep arriving while it looks: a rate needs the counter to grow between two scrapes.
        httpx.post(
            f"http://127.0.0.1:{api_port}/v1/messages", json={"text": "Where is my parcel?"}, timeout=10
        )
        samples = scale_command.load_samples(prometheus, 1.0, datetime.now(UTC).astimezone())
        return any(sample.load > 0 for sample in samples)

    wait_until(loaded, 60, "load samples")
    decision = scale_command.decide(prometheus, 1.0, ScalingPolicy(), tmp_path / "state.json")
    assert (decision.action, decision.workers) == ("hold", 1)
    assert "fewer than 10 min" in decision.reason
