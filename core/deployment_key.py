"""The deployment's secret key (BABELQ_SECRET_KEY): what derived conversation ids and visitor
sessions are keyed with, so that nobody without it can compute or forge either.

Production must set it where it is used: an API process refuses to start without it. A
development stack makes one at its first start and keeps it in `var_dir/secret_key` (mode
0600), so its ids outlive restarts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from core.errors import ConfigurationError
from core.settings import Settings

KEY_FILE = "secret_key"
MIN_KEY_CHARS = 32


def deployment_key(settings: Settings) -> bytes:
    """The key from settings, else (development only) the one kept under var_dir."""
    given = settings.secret_key.get_secret_value()
    if given:
        return given.encode()
    if settings.env == "production":
        raise ConfigurationError("BABELQ_ENV=production needs BABELQ_SECRET_KEY (at least 32 characters)")
    return _kept_key(settings.var_dir / KEY_FILE)


def _kept_key(path: Path) -> bytes:
    """Read the kept key, or make it: created exclusively, so two processes starting at once
    agree on one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secrets.token_urlsafe(48))
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_KEY_CHARS:  # a file another process is still writing, or truncated
        raise ConfigurationError(f"{path} holds no usable key ({len(key)} characters); delete it to make one")
    return key.encode()
