"""A worker whose profile names the continuous engine answers through it, job by job."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from ops.settings import load_settings
from ops.stack import build_stack
from persistence.migrate import upgrade
from producers.api import create_app
from routing.table import load_table
from tests.support.processes import babelq_env, babelq_process, wait_until

pytestmark = pytest.mark.integration


def continuous_routes(tmp_path: Path) -> Path:
    default = load_table().describe()
    data = yaml.safe_load((Path(__file__).parents[2] / "routing" / "default_routes.yaml").read_text())
    data["profiles"]["default"]["engine"] = "continuous"
    assert default["profiles"]["default"]["engine"] == "static"
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_continuous_engine_answers_concurrent_jobs(redis_url: str, tiny_model_dir: Path, tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'babelq.db'}"
    upgrade(store)
    values = dict(broker_url=redis_url, database_url=store, model=str(tiny_model_dir), max_new_tokens="6",
                  var_dir=str(tmp_path), routes_file=str(continuous_routes(tmp_path)))  # fmt: skip
    stack = build_stack(load_settings(**values))
    log = tmp_path / "worker.log"
    with babelq_process(["worker"], babelq_env(**values), log, ready_marker="ready."), \
            TestClient(create_app(stack)) as client:  # fmt: skip
        accepted = [client.post("/v1/messages", json={"text": f"Where is order {i}? It is late."}).json()
                    for i in range(6)]  # fmt: skip
        answers = [client.post("/v1/messages?wait=60", json={"text": "And my refund, please?"}).json()]
        for a in accepted:
            wait_until(
                lambda a=a: (
                    client.get(f"/v1/jobs/{a['job_id']}").json()["status"] != "queued"
                    and client.get(f"/v1/jobs/{a['job_id']}").json()["status"] != "running"
                ),
                60,
                "job final",
            )
            answers.append(client.get(f"/v1/jobs/{a['job_id']}").json())
    assert all(a["status"] == "done" for a in answers), answers
    assert "engine continuous" in log.read_text()
    stack.close()
