"""`babelq top`'s rows: depth, rates a minute and nearest-rank latency percentiles per queue."""

from __future__ import annotations

from rich.console import Console

from ops.top import queue_rows, queue_table
from persistence.views import Finished
from transport.queue_depth import Depth


def test_each_queue_gets_its_depth_rates_and_percentiles():
    finished = [Finished("chat.en", "done", s / 10) for s in range(1, 101)]  # 0.1 .. 10.0 s
    finished += [Finished("chat.en", "failed", 1.0), Finished("chat.es", "expired", 3.0)]
    rows = queue_rows([Depth("chat.en", 3, 64), Depth("chat.es", 0, None)], finished, window_s=30)
    en, es = rows
    assert (en.ready, en.unacked, en.done_per_min, en.failed_per_min) == (3, 64, 200.0, 2.0)
    assert (en.p50_s, en.p99_s) == (5.0, 9.9)
    assert (es.done_per_min, es.failed_per_min, es.p50_s, es.unacked) == (0.0, 2.0, None, None)
    console = Console(width=120, record=True)
    console.print(queue_table(rows, 30))
    text = console.export_text()
    assert "chat.en" in text and "9.9 s" in text and "?" in text  # RabbitMQ without its API: unknown
