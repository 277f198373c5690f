"""A worker runs the engine its profile names and answers concurrent jobs through it, job by job:
`auto` (the default) on a model vLLM cannot run here (the tiny model's heads of 16) is static.
The vllm engine's own worker tests are in test_vllm_engine.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import load_settings
from persistence.migrate import upgrade
from producers.api import create_app
from producers.schemas import Accepted, JobOut
from producers.stack import build_stack
from routing.table import load_table
from tests.support.api import TESTCLIENT_TIMEOUTS, in_process
from tests.support.processes import babelq_env, babelq_process
from tests.support.routes import DEFAULT_ROUTES, routes_with

pytestmark = [pytest.mark.integration, TESTCLIENT_TIMEOUTS]


@pytest.mark.parametrize(("engine", "runs"), [(None, "static")])
def test_the_profile_engine_answers_concurrent_jobs(
    engine: str | None, runs: str, redis_url: str, tiny_model_dir: Path, tmp_path: Path
):
    store_url = f"sqlite:///{tmp_path / 'babelq.db'}"
    upgrade(store_url)
    routes = routes_with(tmp_path, engine=engine) if engine else DEFAULT_ROUTES
    assert load_table(routes).profiles["default"].engine == (engine or "auto")
    values = dict(
        broker_url=redis_url,
        database_url=store_url,
        model=str(tiny_model_dir),
        max_new_tokens="6",
        var_dir=str(tmp_path),
        routes_file=str(routes),
    )
    stack = build_stack(load_settings(**values))
    log = tmp_path / "worker.log"
    with (
        babelq_process(["worker"], babelq_env(**values), log, ready_marker="ready."),
        TestClient(create_app(stack)) as client,
    ):
        api = in_process(client)
        accepted = [api.send(f"Where is order {i}? It is late.") for i in range(6)]
        # one more while those are in flight, waited for (a 202 if not answered in time: not done)
        answers: list[Accepted | JobOut] = [api.send("And my refund, please?", wait=60)]
        # each of the six as it ended (or as it was when its 60 s ran out: not done either)
        answers += [api.wait(a.job_id, timeout=60) for a in accepted]
    assert all(a.status == "done" for a in answers), answers
    assert f"engine {runs}" in log.read_text()
    stack.close()
