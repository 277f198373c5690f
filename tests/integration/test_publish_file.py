"""`babelq publish` run again after a failure publishes each line once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.errors import PublishError
from persistence.models import Job
from producers.messages import MessageIn
from producers.publish import BrokerGateway, journaled, publish_file, read_messages
from tests.support.jobs import fresh_stack

pytestmark = pytest.mark.integration


class FailingAt:
    """A gateway whose broker goes away at one line."""

    def __init__(self, gateway: BrokerGateway, line_key: str) -> None:
        self._gateway, self._key = gateway, line_key

    def submit(self, message: MessageIn, key: str) -> dict[str, Any]:
        if key == self._key:
            raise PublishError("the broker went away")
        return self._gateway.submit(message, key)

    def fetch(self, job_id: str) -> dict[str, Any]:
        return self._gateway.fetch(job_id)


def _jobs(stack) -> int:
    with stack.factory() as session:
        return int(session.execute(select(func.count()).select_from(Job)).scalar_one())


def test_a_rerun_after_a_failure_publishes_each_line_once(redis_url: str, tmp_path: Path):
    stack = fresh_stack({"broker_url": redis_url, "database_url": f"sqlite:///{tmp_path / 'babelq.db'}"})
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"text": f"question {i}: where is my parcel?"}) + "\n" for i in range(5))
    )
    journal = tmp_path / "in.jsonl.published"
    lines = read_messages(source, 4000)
    gateway = BrokerGateway(stack.intake, stack.factory)
    # the broker goes away at the fourth line: three are published and journaled
    with pytest.raises(PublishError):
        publish_file(
            FailingAt(gateway, lines[3].key),
            lines,
            wait=False,
            out=tmp_path / "a.jsonl",
            timeout_s=1,
            journal=journal,
        )
    assert journaled(journal) == {line.key for line in lines[:3]} and _jobs(stack) == 3
    # a rerun of the whole file without --resume asks again for every line, and makes no new job
    # for the three (their idempotency keys name their jobs); --resume skips them without asking
    assert (
        publish_file(gateway, lines, wait=False, out=tmp_path / "b.jsonl", timeout_s=1, journal=journal) == 0
    )
    assert _jobs(stack) == 5
    rerun = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert len({r["job_id"] for r in rerun}) == 5
    assert journaled(journal) == {line.key for line in lines}
    stack.close()
