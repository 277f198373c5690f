"""Process logging: one format for every babelq process (CLI commands and API worker processes).

`text` (the default) for people; `json` (BABELQ_LOG_FORMAT=json) for a log pipeline: one JSON
object a line with time, level, logger and message, and on every line about a job its `job_id`,
`queue` and `worker`. A customer's text is never logged (task arguments show as a summary, a
malformed job's errors name fields, not values).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(log_format: str = "text") -> None:
    """INFO and above to stderr in the chosen format (a no-op where logging is configured already,
    unless the format asked for differs)."""
    if log_format != "json":
        logging.basicConfig(level=logging.INFO, format=FORMAT)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def uvicorn_log_config(log_format: str) -> dict[str, Any] | None:
    """Uvicorn's own logging config for text; for JSON none, so that its loggers reach the root
    handler above and come out as JSON too."""
    if log_format == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG
