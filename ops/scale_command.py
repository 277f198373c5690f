"""`babelq scale`: read the fleet's load from Prometheus, decide with the scaling policy
(ops/scaling.py), print the decision and its reason, and apply it when asked (Docker Compose's
`--scale`, or `kubectl scale`). The last action is kept in a small state file, for the
cool-downs between runs (run it every minute from cron or a CronJob)."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.errors import BabelqError, InvalidInput
from ops.scaling import Decision, LastAction, Sample, ScalingPolicy

# Demand over capacity: jobs accepted a second over (live workers x one worker's capacity).
LOAD_QUERY = "sum(rate(babelq_jobs_accepted_total[1m])) / ({capacity} * count(babelq_worker_up == 1))"
WORKERS_QUERY = "count(babelq_worker_up == 1)"
HISTORY = timedelta(minutes=15)
STEP_S = 30


def _get(prometheus: str, path: str, params: dict[str, str]) -> Any:
    url = f"{prometheus.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise BabelqError(f"cannot query Prometheus at {prometheus}: {exc}") from exc
    if body.get("status") != "success":
        raise BabelqError(f"Prometheus refused the query: {body.get('error')}")
    return body["data"]["result"]


def load_samples(prometheus: str, capacity_jobs_s: float, now: datetime) -> list[Sample]:
    params = {
        "query": LOAD_QUERY.format(capacity=capacity_jobs_s),
        "start": str((now - HISTORY).timestamp()),
        "end": str(now.timestamp()),
        "step": str(STEP_S),
    }
    result = _get(prometheus, "/api/v1/query_range", params)
    values = result[0]["values"] if result else []
    zone = now.tzinfo
    return [Sample(datetime.fromtimestamp(float(at), tz=zone), float(value)) for at, value in values]


def live_workers(prometheus: str) -> int:
    result = _get(prometheus, "/api/v1/query", {"query": WORKERS_QUERY})
    return int(float(result[0]["value"][1])) if result else 0


def read_state(path: Path) -> LastAction | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LastAction(data["action"], datetime.fromisoformat(data["at"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError) as exc:
        raise InvalidInput(f"{path}: not a babelq scale state file ({exc}); delete it to start over") from exc


def write_state(path: Path, decision: Decision, now: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"action": decision.action, "at": now.isoformat(), "workers": decision.workers})
    )


def decide(
    prometheus: str, capacity: float, policy: ScalingPolicy, state: Path, now: datetime | None = None
) -> Decision:
    """The decision for the fleet as Prometheus sees it now (local time for the off-peak hour)."""
    now = now or datetime.now(UTC).astimezone()
    workers = live_workers(prometheus)
    if workers == 0:
        return Decision("hold", 0, "no live worker in Prometheus (babelq_worker_up): nothing to scale from")
    return policy.decide(now, workers, load_samples(prometheus, capacity, now), read_state(state))


def apply_command(decision: Decision, target: str, name: str, compose_file: Path) -> list[str]:
    """The command that sets the fleet to `decision.workers` (compose service or k8s deployment)."""
    if target == "compose":
        return [
            "docker",
            "compose",
            "-f",
            str(compose_file),
            "up",
            "-d",
            "--no-recreate",
            "--scale",
            f"{name}={decision.workers}",
            name,
        ]
    if target == "k8s":
        return ["kubectl", "scale", f"deployment/{name}", f"--replicas={decision.workers}"]
    raise InvalidInput(f"--apply must be compose or k8s, got {target!r}")


def apply(decision: Decision, target: str, name: str, compose_file: Path, state: Path) -> None:
    command = apply_command(decision, target, name, compose_file)
    try:
        subprocess.run(command, check=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BabelqError(f"could not apply the decision ({' '.join(command)}): {exc}") from exc
    write_state(state, decision, datetime.now(UTC).astimezone())


def as_json(decision: Decision) -> str:
    return json.dumps(asdict(decision))
