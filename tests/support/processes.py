"""Start real babelq processes (`babelq worker`, `babelq run`) for integration tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ops.faults.harness import stop

BABELQ = str(Path(sys.executable).with_name("babelq"))


def babelq_env(**values: str) -> dict[str, str]:
    """The current environment minus any BABELQ_* leftovers, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BABELQ_")}
    env.update({f"BABELQ_{k.upper()}": v for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_until(condition: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"{what} not within {timeout}s\n{tail}")


SCRIPTED_WORKER = [sys.executable, "-m", "tests.support.scripted_worker"]
REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def babelq_process(
    args: list[str],
    env: Mapping[str, str],
    log: Path,
    ready_marker: str,
    timeout: float = 90,
    program: list[str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `babelq ARGS` (or `PROGRAM ARGS`), wait until its log shows `ready_marker`, stop it
    (SIGTERM) afterwards."""
    command = [*(program or [BABELQ]), *args]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=dict(env), stdout=sink, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    try:
        wait_until(
            lambda: ready_marker in log.read_text(errors="replace") or process.poll() is not None,
            timeout,
            f"babelq {' '.join(args)} ready",
            log,
        )
        if process.poll() is not None:
            raise RuntimeError(
                f"babelq {' '.join(args)} exited {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        yield process
    finally:
        stop(process)


def fleet_status(values: dict[str, str]) -> dict[str, dict[str, object]]:
    """`babelq status --json` for the fleet on these settings: each worker's snapshot by node."""
    done = subprocess.run(
        [BABELQ, "status", "--json"],
        env=babelq_env(**values),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {node: snapshot for reply in json.loads(done.stdout) for node, snapshot in reply.items()}
