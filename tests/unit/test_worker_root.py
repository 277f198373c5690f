"""A worker process's composition root: what it opens is closed in the reverse order, and the
order that matters holds: its runtime (the batch in flight, the pipeline) closes while its
heartbeat still beats, so that no peer takes the jobs it is finishing as a dead worker's; the
store it shares goes last."""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from core.settings import load_settings
from persistence.liveness import beating_on
from persistence.migrate import upgrade
from routing.table import load_table
from workers.launcher import WorkerOptions, open_shared, open_worker
from workers.liveness import Heartbeat
from workers.runtime import WorkerRuntime


def _recording(closed: list[str], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def record(self: object, *args: Any, **kwargs: Any) -> Any:
        closed.append(name)
        return method(self, *args, **kwargs)

    return record


def test_the_runtime_closes_before_the_heartbeat_stops_and_the_store_goes_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # given a worker opened by its root, with the shipped settings but a model-free runner
    settings = load_settings(var_dir=str(tmp_path), runner="null", worker_metrics_port=0)
    upgrade(settings.store_url)
    table = load_table(settings.routes_file)
    closed: list[str] = []
    for cls, method, name in (
        (WorkerRuntime, "close", "runtime"),
        (Heartbeat, "stop", "heartbeat"),
        (Engine, "dispose", "store"),
    ):
        monkeypatch.setattr(cls, method, _recording(closed, name, getattr(cls, method)))
    with ExitStack() as resources:
        shared = open_shared(settings, table, resources)
        worker = open_worker(settings, table, WorkerOptions(), shared, resources)
        assert worker.hostname in beating_on(shared.factory, socket.gethostname(), timedelta(minutes=1))
        assert worker.runtime.pipeline is not None
    # when its resources close, expect the runtime first, then the heartbeat, then the store
    assert closed == ["runtime", "heartbeat", "store"]
    assert not beating_on(shared.factory, socket.gethostname(), timedelta(minutes=1))


def test_a_worker_whose_metrics_port_is_taken_answers_without_metrics(tmp_path: Path):
    # given the metrics port already bound by another process's socket
    settings_dir = str(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings(var_dir=settings_dir, runner="null", worker_metrics_port=port)
        upgrade(settings.store_url)
        table = load_table(settings.routes_file)
        # when the worker opens, expect it running (its pipeline started) and closing cleanly
        with ExitStack() as resources:
            worker = open_worker(
                settings, table, WorkerOptions(), open_shared(settings, table, resources), resources
            )
            assert worker.runtime.pipeline is not None
