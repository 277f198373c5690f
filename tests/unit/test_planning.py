"""`babelq plan`: devices at peak and cost per QPS from measured capacities and a diurnal day."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import InvalidInput
from ops.cli import app
from ops.planning import DEFAULT_SHAPE, Device, hourly_qps, plan


def test_a_million_a_day_spread_over_the_default_day():
    demand = hourly_qps(1_000_000)
    assert sum(qps * 3600 for qps in demand) == pytest.approx(1_000_000)
    assert max(demand) == pytest.approx(1_000_000 / 86400 * max(DEFAULT_SHAPE) * 24 / sum(DEFAULT_SHAPE))


def test_devices_keep_every_hour_under_the_80_percent_line():
    demand = hourly_qps(1_000_000)
    gpu = plan(Device("gpu", capacity_jobs_s=5.0, price_per_hour=2.0), demand)
    assert gpu.devices_at_peak == math.ceil(max(demand) / 4.0)
    assert all(n * 4.0 >= qps for n, qps in zip(gpu.hourly_devices, demand, strict=True))
    assert gpu.device_hours_scaled < gpu.device_hours_static == gpu.devices_at_peak * 24
    assert gpu.cost_per_qps_month == pytest.approx(2.0 * 730 / 4.0)


def test_a_quiet_hour_still_keeps_the_minimum():
    assert min(plan(Device("cpu", 100.0, 0.1), hourly_qps(1000)).hourly_devices) == 1


@pytest.mark.parametrize("shape", [(1.0,) * 23, (0.0,) * 24, (-1.0,) + (1.0,) * 23])
def test_a_shape_that_is_no_day_is_refused(shape):
    with pytest.raises(ValueError):
        hourly_qps(1000, shape)


def _bench(path: Path, capacity: float) -> str:
    runs = [
        {
            "offered_rate": capacity * f,
            "throughput_jobs_s": capacity * min(f, 1.0),
            "latency_ms": {"p99": 500 if f <= 1 else 9000},
        }
        for f in (0.25, 0.5, 1.0, 1.25)
    ]
    path.write_text(json.dumps({"runs": runs}))
    return str(path)


def test_the_command_writes_the_table_the_json_and_the_png(tmp_path: Path):
    cpu, gpu = _bench(tmp_path / "cpu.json", 2.0), _bench(tmp_path / "gpu.json", 40.0)
    arguments = [
        "plan",
        "--bench",
        f"cpu={cpu}",
        "--bench",
        f"gpu={gpu}",
        "--price",
        "cpu=0.1",
        "--price",
        "gpu=2.5",
        "--out",
        str(tmp_path / "out"),
    ]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "plan.json").read_text())
    by_name = {p["device"]["name"]: p for p in report["plans"]}
    assert by_name["gpu"]["device"]["capacity_jobs_s"] == 40.0  # the best run within the P99
    assert by_name["cpu"]["devices_at_peak"] > by_name["gpu"]["devices_at_peak"]
    assert (tmp_path / "out" / "plan.png").stat().st_size > 10_000
    assert "requests a day" in result.output


def test_a_bench_without_its_price_is_refused(tmp_path: Path):
    cpu = _bench(tmp_path / "cpu.json", 2.0)
    result = CliRunner().invoke(app, ["plan", "--bench", f"cpu={cpu}", "--price", "gpu=1"])
    assert isinstance(result.exception, InvalidInput)  # `babelq` prints it as one line, exit code 2
    assert "give a --price for each --bench" in str(result.exception)
