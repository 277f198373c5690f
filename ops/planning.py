"""Capacity planning from measured curves: a daily volume spread over the day by a diurnal
shape, each device kind's measured capacity (a worker's jobs/s at a P99 target, from `babelq
bench --sweep`), and its price per device-hour → devices at peak, device-hours a day with the
scaling rules (each hour's devices keep the load under the 80% line) or without (peak all day),
and the cost per QPS. Pure arithmetic: ops/plan_command.py reads the files and draws."""

from __future__ import annotations

import math
from dataclasses import dataclass

# A customer-service day, by local hour (relative; normalised): quiet nights, a morning rise, a
# busy day and evening. The peak hour carries 1.7x the mean.
DEFAULT_SHAPE = (
    0.3,
    0.2,
    0.15,
    0.15,
    0.2,
    0.4,
    0.8,
    1.2,
    1.5,
    1.6,
    1.65,
    1.65,
    1.6,
    1.6,
    1.6,
    1.55,
    1.5,
    1.4,
    1.3,
    1.2,
    1.0,
    0.8,
    0.6,
    0.45,
)
DEFAULT_DAILY = 1_000_000
HIGH_LOAD = 0.8  # the scaling rules' line: devices are planned so that no hour runs above it
HOURS_A_MONTH = 730


@dataclass(frozen=True)
class Device:
    name: str
    capacity_jobs_s: float  # one worker (one device) at the P99 target, measured
    price_per_hour: float


@dataclass(frozen=True)
class Plan:
    device: Device
    peak_qps: float
    devices_at_peak: int
    hourly_devices: tuple[int, ...]
    device_hours_scaled: int
    device_hours_static: int

    @property
    def daily_cost_scaled(self) -> float:
        return self.device_hours_scaled * self.device.price_per_hour

    @property
    def daily_cost_static(self) -> float:
        return self.device_hours_static * self.device.price_per_hour

    @property
    def cost_per_qps_month(self) -> float:
        """What one request a second of sustained capacity costs a month (at the 80% line)."""
        return self.device.price_per_hour * HOURS_A_MONTH / (self.device.capacity_jobs_s * HIGH_LOAD)


def hourly_qps(daily: float, shape: tuple[float, ...] = DEFAULT_SHAPE) -> tuple[float, ...]:
    """Requests a second in each hour of the day."""
    if len(shape) != 24 or min(shape) < 0 or sum(shape) <= 0:
        raise ValueError("a diurnal shape is 24 non-negative hourly weights, not all zero")
    if daily < 0:
        raise ValueError("the daily volume cannot be negative")
    total = sum(shape)
    return tuple(daily * weight / total / 3600 for weight in shape)


def plan(device: Device, qps_by_hour: tuple[float, ...], min_devices: int = 1) -> Plan:
    if device.capacity_jobs_s <= 0 or device.price_per_hour < 0:
        raise ValueError(f"{device.name}: capacity must be > 0 and price >= 0")
    usable = device.capacity_jobs_s * HIGH_LOAD
    hourly = tuple(max(min_devices, math.ceil(qps / usable)) for qps in qps_by_hour)
    peak = max(qps_by_hour)
    return Plan(device, peak, max(hourly), hourly, sum(hourly), max(hourly) * 24)
