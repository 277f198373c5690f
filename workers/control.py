"""The worker's side of remote control: its batch policy (read or changed live) and its health
(`babelq status`), answered from the runtime the launcher hangs on the Celery app."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery.worker.control import control_command

from core.errors import BabelqError
from transport.control import POLICY_COMMAND, STATUS_COMMAND

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
