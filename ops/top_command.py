"""What `babelq top` reads each refresh: the queues' depths, what ended lately, the fleet."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Group

from core.jobs import utcnow
from ops.fleet_status import status_table
from ops.top import queue_rows, queue_table, top_view
from persistence.views import finished_since
from producers.stack import Stack
from transport.control import fleet_status
from transport.queue_depth import QueueDepths


def render_top(stack: Stack, window_s: float) -> Group:
    depths = QueueDepths(stack.celery, stack.table.queue_names, stack.settings.rabbitmq_management_url).read()
    finished = finished_since(stack.factory, utcnow() - timedelta(seconds=window_s))
    replies = fleet_status(stack.celery, timeout_s=1.0)
    fleet = status_table(replies) if replies else "no worker replied"
    return top_view(queue_table(queue_rows(depths, finished, window_s), window_s), fleet)
