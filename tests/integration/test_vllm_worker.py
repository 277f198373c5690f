"""`babelq worker` on the shipped profile (engine auto: vLLM, as installed here) in real processes,
on Redis, with a tiny model vLLM's CPU kernels run:

- SIGTERM while answers are being generated: the running ones finish and are stored, the jobs
  waiting in the worker are handed back to the broker for another (vllm) worker;
- vLLM's engine process dying: every job it can no longer answer is a model failure, the breaker
  opens, and the worker exits for its supervisor to restart it; no job fails for it and another
  worker answers them all;
- `kill -9` of that other worker: no vLLM process outlives it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from core.jobs import JobStatus
from ops.faults.services import free_port
from producers.stack import Stack
from tests.conftest import IN_CI
from tests.support.jobs import (
    all_done,
    answered_by,
    assistant_turns,
    fresh_stack,
    node_of,
    publish_english_jobs,
    running_on,
    statuses,
)
from tests.support.processes import babelq_env, babelq_process, fleet_status, wait_until
from tests.support.routes import routes_with
from workers.launcher import GAVE_UP_EXIT_CODE

if not IN_CI:
    pytest.importorskip("vllm")
pytestmark = pytest.mark.integration
WORKER = ["worker", "--queues", "chat.en"]
ENGINE_START_S = 180  # vLLM's processes start in 20-40 s on two idle cores; far more on busy ones
LONG_ANSWER = "200"  # tokens: the tiny model never says eos, so every answer takes them all
JOBS = 12


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    made: list[Stack] = []
    yield made
    for stack in made:
        stack.close()


def _values(redis_url: str, model: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    return dict(
        broker_url=redis_url,
        database_url=f"sqlite:///{tmp_path / 'babelq.db'}",
        model=str(model),
        var_dir=str(tmp_path / "var"),
        **extra,
    )


def _engine_processes(worker: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The worker's vLLM processes (named by vLLM: VLLM::EngineCore, VLLM::Worker)."""
    found = []
    for child in psutil.Process(worker.pid).children(recursive=True):
        try:
            if "VLLM" in child.name() or "VLLM" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def test_sigterm_hands_back_to_a_vllm_worker_whose_kill_9_leaves_no_vllm_process(
    redis_url: str, vllm_model_dir: Path, tmp_path: Path, stacks: list[Stack]
):
    routes = routes_with(tmp_path, max_batch_size=4, max_new_tokens=int(LONG_ANSWER))
    values = _values(redis_url, vllm_model_dir, tmp_path, routes_file=str(routes), max_new_tokens=LONG_ANSWER)
    stacks.append(stack := fresh_stack(values))
    logs = [tmp_path / "stopped.log", tmp_path / "survivor.log"]
    with babelq_process(WORKER, babelq_env(**values), logs[0], "ready.", timeout=ENGINE_START_S) as stopped:
        assert "engine vllm" in logs[0].read_text()
        jobs = publish_english_jobs(stack, JOBS)
        node = node_of(logs[0])
        wait_until(lambda: len(running_on(stack, node)) >= 6, 60, "jobs taken", logs[0])
        running = running_on(stack, node)
        engine = _engine_processes(stopped)
        assert engine, "no vLLM process under the worker"
        stopped.send_signal(signal.SIGTERM)
        # the survivor: the shipped profile (engine auto: vllm), short answers
        survivor = _values(redis_url, vllm_model_dir, tmp_path, max_new_tokens="4")
        with babelq_process(
            WORKER, babelq_env(**survivor), logs[1], "ready.", timeout=ENGINE_START_S
        ) as other:
            assert stopped.wait(120) == 0
            assert "waiting jobs handed back" in logs[0].read_text()
            psutil.wait_procs(engine, timeout=10)
            assert not [p for p in engine if p.is_running()], "vLLM processes outlived a clean stop"
            wait_until(lambda: all_done(stack, jobs), 120, "every job answered", logs[1])
            others = _engine_processes(other)
            assert others, "no vLLM process under the survivor"
            os.kill(other.pid, signal.SIGKILL)
            other.wait(10)
            _gone, alive = psutil.wait_procs(others, timeout=15)
    for process in alive:  # not left running for the rest of the suite
        process.kill()
    assert not alive, f"vLLM processes outlived kill -9 of their worker: {[p.pid for p in alive]}"
    assert len(assistant_turns(stack, jobs)) == JOBS and set(assistant_turns(stack, jobs).values()) == {1}
    # of the jobs it had taken, the stopping worker finished those running (at most 4, its
    # max_batch_size) and handed the others back to the broker, for the survivor
    by_node = answered_by(stack, running)
    assert set(by_node) == {node, node_of(logs[1])} and 1 <= by_node[node] <= 4


def test_a_dead_engine_opens_the_breaker_and_another_worker_answers(
    redis_url: str, vllm_model_dir: Path, tmp_path: Path, stacks: list[Stack]
):
    port = free_port()
    values = _values(redis_url, vllm_model_dir, tmp_path, max_new_tokens="4", worker_metrics_port=str(port))
    stacks.append(stack := fresh_stack(values))
    sick_log, healthy_log = tmp_path / "sick.log", tmp_path / "healthy.log"
    with babelq_process(WORKER, babelq_env(**values), sick_log, "ready.", timeout=ENGINE_START_S) as sick:
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'babelq_engine_kv_cache_usage{engine="vllm"}' in metrics  # vLLM's state, on /metrics
        for process in _engine_processes(sick):
            process.kill()  # the engine dies as it would of a crash or the OOM killer
        node = node_of(sick_log)
        wait_until(lambda: fleet_status(values)[node]["model_loaded"] is False, 30, "a dead engine in status")
        assert fleet_status(values)[node]["engine"] == "vllm"
        jobs = publish_english_jobs(stack, 8)
        wait_until(lambda: "stopped consuming chat.en" in sick_log.read_text(), 60, "breaker open", sick_log)
        # the breaker opened: a dead engine never heals, so the worker exits for its supervisor
        # to start it afresh, without waiting for a breaker trial
        assert sick.wait(30) == GAVE_UP_EXIT_CODE
        assert "the model's engine is dead; the worker gives up" in sick_log.read_text()
        assert statuses(stack, jobs)[JobStatus.FAILED] == 0  # nothing failed for the engine's death
        static = routes_with(tmp_path, engine="static")
        healthy = {**values, "routes_file": str(static)}
        with babelq_process(WORKER, babelq_env(**healthy), healthy_log, "ready."):
            wait_until(lambda: all_done(stack, jobs), 120, "every job answered", healthy_log)
        assert answered_by(stack, jobs) == {node_of(healthy_log): 8}
