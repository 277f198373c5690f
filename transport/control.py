"""Celery remote control, the caller's side: the command names babelq workers answer to
(registered in workers/control.py) and the broadcasts `babelq batch-policy` and `babelq status`
send."""

from __future__ import annotations

from typing import Any

from celery import Celery

POLICY_COMMAND = "babelq_batch_policy"
STATUS_COMMAND = "babelq_status"


def fleet_status(
    app: Celery, destination: list[str] | None = None, timeout_s: float = 2.0
) -> list[dict[str, Any]]:
    """Every worker's health snapshot ({node: snapshot} replies), from remote control."""
    replies = app.control.broadcast(STATUS_COMMAND, destination=destination, reply=True, timeout=timeout_s)
    return list(replies or [])


def broadcast_policy(app: Celery, destination: list[str] | None, **changes: Any) -> list[dict[str, Any]]:
    """Send a policy change (or, with no changes, a query) to workers and collect their replies.

    `babelq batch-policy --max-batch-size 16` broadcasts it; every worker (or the one named)
    applies the change to its batcher without a restart and replies with its policy.
    """
    arguments = {k: v for k, v in changes.items() if v is not None}
    replies = app.control.broadcast(
        POLICY_COMMAND, arguments=arguments, destination=destination, reply=True, timeout=2.0
    )
    return list(replies or [])
