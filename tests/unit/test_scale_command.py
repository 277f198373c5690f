"""`babelq scale` around the policy: a worker's capacity from a bench sweep, the state file, and
the commands that apply a decision."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import InvalidInput
from ops.capacity import bench_runs, capacity_jobs_s
from ops.scale_command import apply_command, read_state, write_state
from ops.scaling import Decision


def _bench(tmp_path: Path, runs: list[tuple[float, float, float]]) -> Path:
    path = tmp_path / "bench.json"
    body = {
        "runs": [
            {"offered_rate": r, "throughput_jobs_s": t, "latency_ms": {"p50": p / 2, "p99": p}}
            for r, t, p in runs
        ]
    }
    path.write_text(json.dumps(body))
    return path


def test_capacity_is_the_best_throughput_that_met_the_p99(tmp_path: Path):
    runs = bench_runs(_bench(tmp_path, [(10, 10, 300), (20, 19.5, 900), (40, 30, 4000)]))
    assert capacity_jobs_s(runs, 1000) == 19.5
    assert capacity_jobs_s(runs, 5000) == 30
    with pytest.raises(InvalidInput, match="no bench run met a P99 of 100 ms"):
        capacity_jobs_s(runs, 100)


def test_a_file_that_is_no_bench_is_refused(tmp_path: Path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    with pytest.raises(InvalidInput, match=r"not a babelq bench\.json"):
        bench_runs(path)


def test_the_state_keeps_the_last_action(tmp_path: Path):
    path = tmp_path / "var" / "state.json"
    assert read_state(path) is None
    now = datetime(2026, 11, 30, 22, 1, tzinfo=UTC)
    write_state(path, Decision("release", 4, "off-peak"), now)
    last = read_state(path)
    assert last is not None and (last.action, last.at) == ("release", now)
    path.write_text("{")
    with pytest.raises(InvalidInput, match="delete it"):
        read_state(path)


def test_a_decision_becomes_a_compose_or_kubectl_command():
    decision = Decision("add", 6, "load")
    compose = apply_command(decision, "compose", "worker-cpu", Path("compose/docker-compose.yml"))
    assert compose[:2] == ["docker", "compose"] and "worker-cpu=6" in compose and "--no-recreate" in compose
    assert apply_command(decision, "k8s", "babelq-worker", Path()) == [
        "kubectl",
        "scale",
        "deployment/babelq-worker",
        "--replicas=6",
    ]
    with pytest.raises(InvalidInput):
        apply_command(decision, "nomad", "x", Path())
