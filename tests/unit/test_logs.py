"""JSON logs: one object a line, with a job's fields; a malformed job's error names no values."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.errors import InvalidInput
from core.jobs import ChatJob

PROGRAM = """
import logging
from core.jobs import log_fields
from ops.logs import configure_logging
configure_logging("json")
fields = log_fields("J1", "chat.es", "gpu0@h")
logging.getLogger("workers.pipeline").warning("job %s retried", "J1", extra=fields)
logging.getLogger("celery").info("plain line")
"""


def test_json_logs_are_one_object_a_line_with_the_jobs_fields():
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True
    )
    first, second = (json.loads(line) for line in done.stderr.splitlines())
    assert (first["level"], first["logger"], first["message"]) == (
        "WARNING",
        "workers.pipeline",
        "job J1 retried",
    )
    assert (first["job_id"], first["queue"], first["worker"]) == ("J1", "chat.es", "gpu0@h")
    assert "time" in first and second["message"] == "plain line"


def test_a_malformed_jobs_error_names_fields_not_the_customers_text():
    with pytest.raises(InvalidInput) as caught:
        ChatJob.from_wire({"v": 1, "job_id": 3, "text": "my card number is 4111"})
    assert "job_id" in str(caught.value) and "4111" not in str(caught.value)
