"""`babelq faults`: run the fault scenarios, print their table, write it as JSON."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from core.errors import ConfigurationError
from core.settings import Settings
from ops.faults.harness import FaultSetup
from ops.faults.runner import choose, run_all
from ops.faults.tally import TARGET_S, Row, table

LOCAL_BROKERS = {"redis": "redis://127.0.0.1:6379/0", "amqp": "amqp://guest:guest@127.0.0.1:5672//"}


def fault_setup(
    settings: Settings,
    *,
    brokers: Sequence[str],
    workdir: Path,
    worker_program: str,
    jobs: int,
    overrides: Sequence[str],
) -> FaultSetup:
    """The suite's setup from the settings (store, model) and the command's options."""
    if not brokers or any(broker not in LOCAL_BROKERS for broker in brokers):
        raise ConfigurationError(f"--broker is one or more of {sorted(LOCAL_BROKERS)}")
    urls = {broker: LOCAL_BROKERS[broker] for broker in brokers}
    if not settings.embedded and settings.broker_url.split(":", 1)[0] in ("redis", "amqp"):
        urls[settings.broker_url.split(":", 1)[0]] = settings.broker_url
    return FaultSetup(
        brokers=urls,
        database_url=settings.store_url,
        model=settings.model,
        workdir=workdir,
        worker_program=tuple(shlex.split(worker_program)),
        jobs=jobs,
        # every scenario has its own var dir; the prepared default model is shared
        settings={"model_cache_dir": str(settings.models_dir), **_overrides(overrides)},
    )


def run_faults(setup: FaultSetup, names: Sequence[str], out: Path) -> list[Row]:
    rows = run_all(setup, choose(names), list(setup.brokers))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"target_s": TARGET_S, "rows": [row.as_dict() for row in rows]}, indent=2))
    return rows


def render(rows: Sequence[Row]) -> str:
    notes = [f"- {row.scenario} ({row.broker}): {row.note}" for row in rows if row.note]
    return "\n".join([table(rows), "", *notes])


def _overrides(pairs: Sequence[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--set takes NAME=VALUE (a BABELQ_ setting, lower case), got {pair!r}")
        values[key.lower().removeprefix("babelq_")] = value
    return values
