"""Worker health: the snapshot `babelq status` shows, and the monitor that trials an open breaker."""

from __future__ import annotations

import time

from ops.fleet_status import status_rows
from workers.breaker import ModelBreaker
from workers.consumption import ConsumptionSwitch
from workers.gpus import gpu_readings, visible_gpu_count
from workers.health import Activity, GiveUp, HealthMonitor, ModelFacts

FACTS = ModelFacts("tiny", "cpu", "float32", "static", 0.2)


def _fail() -> None:
    raise RuntimeError("device lost")


def _monitor(
    breaker: ModelBreaker, switch: ConsumptionSwitch, probe=lambda: None, gpu=None, give_up=None
) -> HealthMonitor:
    return HealthMonitor(
        FACTS, breaker, switch, Activity(), probe, interval_s=30, gpu=gpu, tick_s=0.02, give_up=give_up
    )


def test_snapshot_reports_what_the_worker_runs_and_does():
    switch = ConsumptionSwitch(["chat.en"])
    monitor = _monitor(
        ModelBreaker(5, 30),
        switch,
        gpu=lambda: {"gpu_util_pct": 87.0, "gpu_memory_used_mib": 1000.0, "gpu_memory_total_mib": 80000.0},
    )
    monitor.activity.add_in_flight(1)
    monitor.activity.batch_done(6, 0.5)
    snapshot = monitor.check()
    assert snapshot["in_flight"] == 1 and snapshot["last_batch_size"] == 6 and snapshot["batches"] == 1
    assert snapshot["device"] == "cpu" and snapshot["dtype"] == "float32" and snapshot["breaker"] == "closed"
    assert snapshot["queues"] == ["chat.en"] and snapshot["consuming"] is True
    assert snapshot["gpu"]["gpu_util_pct"] == 87.0 and snapshot["last_batch_age_s"] < 5
    monitor.activity.add_in_flight(-1)  # settled, as the pipeline reports it
    assert monitor.snapshot()["in_flight"] == 0


def test_the_monitor_trials_an_open_breaker_and_consumption_resumes_when_it_closes():
    switch = ConsumptionSwitch(["chat.en"])
    breaker = ModelBreaker(1, 0.1, on_change=lambda s: switch.pause() if s == "open" else switch.resume())
    healthy = {"now": False}

    def probe() -> None:
        if not healthy["now"]:
            _fail()

    monitor = _monitor(breaker, switch, probe)
    breaker.record(RuntimeError("device lost"))
    assert breaker.is_open and not switch.consuming
    monitor.start()
    time.sleep(0.4)  # trials ran and failed: still open
    assert breaker.is_open and not switch.consuming
    healthy["now"] = True
    deadline = time.monotonic() + 5
    while breaker.is_open and time.monotonic() < deadline:
        time.sleep(0.02)
    monitor.stop()
    assert breaker.state == "closed" and switch.consuming


def test_a_dead_engine_shows_as_no_model_and_an_open_breaker_gives_up_at_once():
    """vLLM's engine process died: no trial can revive it, so once the breaker opened the worker
    exits to be restarted, without waiting BABELQ_BREAKER_RESET_S for a trial."""
    switch = ConsumptionSwitch(["chat.en"])
    breaker = ModelBreaker(1, 3600, on_change=lambda s: switch.pause() if s == "open" else None)
    gave_up: list[bool] = []
    monitor = HealthMonitor(
        FACTS,
        breaker,
        switch,
        Activity(),
        _fail,
        interval_s=30,
        tick_s=0.02,
        model_alive=lambda: False,
        give_up=GiveUp(0, lambda: gave_up.append(True)),  # 0: never give up on a live engine
    )
    assert monitor.snapshot()["model_loaded"] is False
    breaker.record(RuntimeError("the vLLM engine died"))
    monitor.start()
    deadline = time.monotonic() + 5
    while not gave_up and time.monotonic() < deadline:
        time.sleep(0.02)
    monitor.stop()
    assert gave_up == [True] and monitor.failed_trials == 0  # no trial was waited for


def test_status_rows_show_each_worker_sorted_with_paused_queues_and_errors():
    switch = ConsumptionSwitch(["chat.en"])
    switch.pause()
    snapshot = _monitor(ModelBreaker(5, 30), switch).snapshot()
    replies = [
        {
            "gpu1@b": {
                **snapshot,
                "gpu": {"gpu_util_pct": 50.0, "gpu_memory_used_mib": 2048.0, "gpu_memory_total_mib": 81920.0},
            }
        },
        {"cpu-1@a": snapshot},
        {"old@c": {"error": "this worker has no babelq runtime"}},
    ]
    rows = status_rows(replies)
    assert [row[0] for row in rows] == ["cpu-1@a", "gpu1@b", "old@c"]
    assert rows[0][1] == "chat.en (paused)" and rows[0][7] == "never" and rows[0][8] == "-"
    assert rows[1][8] == "50% 2048/81920 MiB"
    assert rows[2][8] == "this worker has no babelq runtime"


def test_gpu_readings_are_absent_without_a_gpu_and_complete_with_one():
    reading = gpu_readings()
    if visible_gpu_count() == 0:  # CI: no NVIDIA driver, so no reading and no error
        assert reading is None
    else:
        assert reading is not None and set(reading) == {
            "gpu_util_pct",
            "gpu_memory_used_mib",
            "gpu_memory_total_mib",
        }


def test_the_monitor_gives_up_after_max_failed_trials_in_a_row():
    import threading

    breaker = ModelBreaker(1, 0.02)
    breaker.record(RuntimeError("device lost"))
    gave_up = threading.Event()
    monitor = _monitor(breaker, ConsumptionSwitch(["chat.en"]), probe=_fail, give_up=GiveUp(3, gave_up.set))
    monitor.start()
    assert gave_up.wait(5)
    assert monitor.failed_trials == 3 and breaker.is_open
    monitor.stop()
