"""GPU selection and pinning for `babelq worker --gpus` (no GPU needed)."""

import pytest

from core.errors import ConfigurationError
from workers.gpus import child_command, child_env, select_gpus, visible_gpu_count


def test_none_means_cpu_and_all_means_every_visible_gpu():
    assert select_gpus("none", 4) is None
    assert select_gpus("all", 3) == [0, 1, 2]
    assert select_gpus("0,2", 4) == [0, 2]


@pytest.mark.parametrize(
    ("spec", "available", "message"),
    [
        ("all", 0, "no GPU is visible"),
        ("0,0", 2, "distinct"),
        ("3", 2, "not visible"),
        ("gpu0", 2, "none, all or a list"),
        ("", 2, "distinct"),
    ],
)
def test_bad_gpu_selections_are_refused(spec, available, message):
    with pytest.raises(ConfigurationError, match=message):
        select_gpus(spec, available)


def test_each_child_sees_only_its_gpu_and_is_started_fresh():
    env = child_env({"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0,1,2"}, 2)
    assert env["CUDA_VISIBLE_DEVICES"] == "2" and env["BABELQ_DEVICE"] == "cuda" and env["PATH"] == "/bin"
    command = child_command(2, ["chat.zh", "chat.en"])
    assert command[1:] == ["worker", "--pinned-gpu", "2", "--queues", "chat.zh,chat.en"]


def test_counting_gpus_without_a_driver_is_zero_not_an_error():
    assert visible_gpu_count() >= 0


def test_a_fleet_whose_worker_keeps_crashing_stops_and_exits_non_zero(monkeypatch, tmp_path):
    import sys
    import time

    from workers import gpus

    # gpu0 crashes at once every time; gpu1 runs until it is told to stop
    marker = tmp_path / "gpu1-stopped"
    crashing = [sys.executable, "-c", "import sys; sys.exit(7)"]
    healthy = [
        sys.executable,
        "-c",
        (
            "import signal, sys, time, pathlib\n"
            f"stopped = pathlib.Path({str(marker)!r})\n"
            "signal.signal(signal.SIGTERM, lambda *_: (stopped.touch(), sys.exit(0)))\n"
            "time.sleep(60)"
        ),
    ]
    monkeypatch.setattr(gpus, "child_command", lambda gpu, queues: crashing if gpu == 0 else healthy)
    started = time.monotonic()
    code = gpus.GpuFleet([0, 1], ["chat.en"], {}).run()
    assert code == 7  # the crashing worker's own code: the supervisor sees why
    assert marker.exists()  # the healthy worker was stopped (warm), not left behind
    assert time.monotonic() - started < 30
