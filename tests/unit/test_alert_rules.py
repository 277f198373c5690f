"""The alert rules are valid and each fires when it should and not otherwise (promtool, from
Debian's `prometheus` package; `make test` and .ci/run install it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "ops" / "prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(
    PROMTOOL is None and os.environ.get("CI") != "true",
    reason="promtool is not installed (apt install prometheus)",
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None, "promtool is not installed (apt install prometheus)"
    return subprocess.run([PROMTOOL, *args], cwd=RULES, capture_output=True, text=True, timeout=120)


def test_the_rules_are_valid():
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "9 rules found" in checked.stdout


def test_each_rule_fires_when_it_should_and_not_otherwise():
    tested = _promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {
        line.split(":", 1)[1].strip()
        for line in (RULES / "alerts.yml").read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    covered = (RULES / "alerts_test.yml").read_text()
    assert all(f"alertname: {alert}" in covered for alert in alerts)


def test_the_shipped_scrape_config_loads_the_rules():
    checked = _promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "9 rules found" in checked.stdout
