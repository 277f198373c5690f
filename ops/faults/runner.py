"""Run scenarios, each in a world of its own, and count what became of their jobs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigurationError
from ops.faults.harness import FaultRun, FaultSetup
from ops.faults.scenarios import SCENARIOS, Scenario
from ops.faults.services import CuttableProxy, PrivateRedis, free_port
from ops.faults.tally import TARGET_S, Row, tally

log = logging.getLogger(__name__)
SETTLE_S = TARGET_S + 30  # how long a scenario waits for its jobs after the fault cleared


def choose(names: Sequence[str]) -> list[Scenario]:
    known = {scenario.name: scenario for scenario in SCENARIOS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigurationError(f"unknown scenario(s) {unknown}; known: {sorted(known)}")
    return [known[name] for name in names] if names else list(SCENARIOS)


def run_all(setup: FaultSetup, scenarios: Sequence[Scenario], brokers: Sequence[str]) -> list[Row]:
    rows = []
    for scenario in scenarios:
        for broker in scenario.brokers:
            if broker == "memory" or broker in brokers:
                log.info("fault scenario %s on %s", scenario.name, broker)
                rows.append(_row_or_failure(setup, scenario, broker))
    return rows


def _row_or_failure(setup: FaultSetup, scenario: Scenario, broker: str) -> Row:
    """The scenario's row; one that could not run says why in its row (and misses the target)."""
    try:
        return run_scenario(setup, scenario, broker)
    except Exception as exc:
        log.exception("fault scenario %s on %s could not run", scenario.name, broker)
        return Row(scenario.name, broker, 0, 0, 0, 0, 0, 0, 0, None, note=f"could not run: {exc}"[:300])


def run_scenario(setup: FaultSetup, scenario: Scenario, broker: str) -> Row:
    with _world(setup, scenario, broker) as run:
        ids, cleared_at, note = scenario.run(run)
        run.wait_final(ids, SETTLE_S)
        dead, others = run.letters(ids)
        return tally(
            scenario.name,
            broker,
            run.fates(ids),
            dead=dead,
            other_letters=others,
            cleared_at=cleared_at,
            note=note,
        )


@contextmanager
def _world(setup: FaultSetup, scenario: Scenario, broker: str) -> Iterator[FaultRun]:
    """The scenario's settings and the services it breaks, stopped afterwards."""
    name = f"{scenario.name}-{broker}"
    services: dict[str, Any] = {}
    values = {"broker_url": setup.brokers.get(broker, "")}
    with contextlib.ExitStack() as cleanup:
        if scenario.name == "broker-restart" and broker == "redis":
            redis = PrivateRedis(setup.workdir / name / "redis")
            redis.start()
            cleanup.callback(redis.stop)
            services["redis"], values["broker_url"] = redis, redis.url
        if scenario.name.startswith("store-down"):
            services["proxy"] = _proxy(setup.database_url)
            cleanup.callback(services["proxy"].close)
        if broker == "memory":
            values = {
                "broker_url": "memory://",
                "database_url": f"sqlite:///{setup.workdir / name / 'babelq.db'}",
            }
            services["embedded"] = {"api_port": str(free_port()), **values}
        run = FaultRun(setup, name, values, services)
        cleanup.callback(run.close)
        yield run


def _proxy(database_url: str) -> CuttableProxy:
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgresql"):
        raise ConfigurationError("the store-down scenario needs a PostgreSQL store (--database-url)")
    return CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
