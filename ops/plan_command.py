"""`babelq plan`: devices and cost for a daily volume, from measured bench sweeps; a table on
the terminal, plan.json and plan.png (each device kind's devices by hour against the demand)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.errors import InvalidInput
from ops.capacity import bench_runs, capacity_jobs_s
from ops.planning import Device, Plan, hourly_qps, plan


def named(values: list[str], what: str) -> dict[str, str]:
    """NAME=VALUE options as a mapping."""
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise InvalidInput(f"{what} must be NAME=VALUE, got {value!r}")
        pairs[name] = rest
    return pairs


def devices(benches: dict[str, str], prices: dict[str, str], p99_ms: float) -> list[Device]:
    if set(benches) != set(prices):
        raise InvalidInput(
            f"give a --price for each --bench (benches {sorted(benches)}, prices {sorted(prices)})"
        )
    try:
        return [
            Device(name, capacity_jobs_s(bench_runs(Path(path)), p99_ms), float(prices[name]))
            for name, path in benches.items()
        ]
    except ValueError as exc:
        raise InvalidInput(f"a --price is not a number: {exc}") from exc


def read_shape(path: Path | None) -> tuple[float, ...] | None:
    if path is None:
        return None
    try:
        return tuple(float(x) for x in json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInput(f"{path}: a shape is a JSON list of 24 hourly weights ({exc})") from exc


def run_plan(kinds: list[Device], daily: float, shape: tuple[float, ...] | None, out: Path) -> list[Plan]:
    try:
        demand = hourly_qps(daily, shape) if shape else hourly_qps(daily)
        plans = [plan(device, demand) for device in kinds]
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(_report(plans, daily, demand), indent=2))
    _draw(plans, demand, out / "plan.png")
    Console().print(_table(plans, daily))
    return plans


def _report(plans: list[Plan], daily: float, demand: tuple[float, ...]) -> dict[str, object]:
    return {
        "daily_requests": daily,
        "qps_by_hour": demand,
        "plans": [
            {
                **asdict(p),
                "daily_cost_scaled": p.daily_cost_scaled,
                "daily_cost_static": p.daily_cost_static,
                "cost_per_qps_month": p.cost_per_qps_month,
            }
            for p in plans
        ],
    }


COLUMNS = (
    "device",
    "jobs/s a device (at P99)",
    "$/device-h",
    "devices at peak",
    "device-h/day scaled",
    "device-h/day static",
    "$/day scaled",
    "$/day static",
    "$ per QPS-month",
)


def _table(plans: list[Plan], daily: float) -> Table:
    table = Table(title=f"{daily:,.0f} requests a day (peak {plans[0].peak_qps:.1f} req/s)")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for p in plans:
        table.add_row(
            p.device.name,
            f"{p.device.capacity_jobs_s:.2f}",
            f"{p.device.price_per_hour:.2f}",
            str(p.devices_at_peak),
            str(p.device_hours_scaled),
            str(p.device_hours_static),
            f"{p.daily_cost_scaled:,.2f}",
            f"{p.daily_cost_static:,.2f}",
            f"{p.cost_per_qps_month:,.2f}",
        )
    return table


def _draw(plans: list[Plan], demand: tuple[float, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to a file
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 4.5))
    hours = list(range(24))
    axis.plot(hours, demand, color="black", linewidth=2, label="demand (req/s)")
    for p in plans:
        usable = [n * p.device.capacity_jobs_s * 0.8 for n in p.hourly_devices]
        axis.step(
            hours, usable, where="mid", label=f"{p.device.name}: {p.devices_at_peak} at peak (80% line)"
        )
    axis.set_xlabel("hour of the day")
    axis.set_ylabel("requests a second")
    axis.set_xticks(range(0, 24, 2))
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
