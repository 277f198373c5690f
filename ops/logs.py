"""Process logging: one format for every babelq process (CLI commands and API worker processes)."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """INFO and above to stderr in one format (a no-op where logging is configured already)."""
    logging.basicConfig(level=logging.INFO, format=FORMAT)
