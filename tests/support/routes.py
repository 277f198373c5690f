"""Routing tables for tests: the default one with one profile setting changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_ROUTES = Path(__file__).resolve().parents[2] / "routing" / "default_routes.yaml"


def routes_with(tmp_path: Path, **profile: Any) -> Path:
    """A copy of the default table whose default profile has `profile`'s values; its path."""
    data = yaml.safe_load(DEFAULT_ROUTES.read_text(encoding="utf-8"))
    data["profiles"]["default"].update(profile)
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path
