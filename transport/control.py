"""Celery remote-control commands of a babelq worker: its batch policy (read or change it live)
and its health (`babelq status`).

`babelq batch-policy --max-batch-size 16` broadcasts `babelq_batch_policy`; every worker (or the
one named) applies the change to its batcher without a restart and replies with its policy.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import Celery
from celery.worker.control import control_command

from core.errors import BabelqError

POLICY_COMMAND = "babelq_batch_policy"
STATUS_COMMAND = "babelq_status"
RUNTIME_ATTRIBUTE = "babelq_runtime"
_registered = False


def register_control_commands() -> None:
    """Register the commands with Celery's (process-global) control panel, once."""
    global _registered
    if _registered:
        return
    control_command(
        name=POLICY_COMMAND,
        args=[("max_batch_size", int), ("max_wait_ms", float), ("max_batch_tokens", int)],
        signature="[max_batch_size [max_wait_ms [max_batch_tokens]]]",
    )(_batch_policy)
    control_command(name=STATUS_COMMAND)(_status)
    _registered = True


def _status(state: Any) -> dict[str, Any]:
    runtime = getattr(state.consumer.app, RUNTIME_ATTRIBUTE, None)
    if runtime is None:
        return {"error": "this worker has no babelq runtime"}
    return dict(runtime.monitor.snapshot())


def fleet_status(
    app: Celery, destination: list[str] | None = None, timeout_s: float = 2.0
) -> list[dict[str, Any]]:
    """Every worker's health snapshot ({node: snapshot} replies), from remote control."""
    replies = app.control.broadcast(STATUS_COMMAND, destination=destination, reply=True, timeout=timeout_s)
    return list(replies or [])


def _batch_policy(state: Any, **changes: Any) -> dict[str, Any]:
    runtime = getattr(state.consumer.app, RUNTIME_ATTRIBUTE, None)
    if runtime is None:
        return {"error": "this worker has no babelq runtime"}
    wanted = {k: v for k, v in changes.items() if v is not None}
    try:
        policy = runtime.feeder.change_policy(**wanted) if wanted else runtime.feeder.policy
    except BabelqError as exc:
        return {"error": str(exc)}
    return {"ok": asdict(policy), "size_cap": runtime.feeder.size_cap}


def broadcast_policy(app: Celery, destination: list[str] | None, **changes: Any) -> list[dict[str, Any]]:
    """Send a policy change (or, with no changes, a query) to workers and collect their replies."""
    arguments = {k: v for k, v in changes.items() if v is not None}
    replies = app.control.broadcast(
        POLICY_COMMAND, arguments=arguments, destination=destination, reply=True, timeout=2.0
    )
    return list(replies or [])
