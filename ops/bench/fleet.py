"""The processes a benchmark starts itself (unless --external): `babelq run`, or api + worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from core.errors import BabelqError
from core.settings import Settings

BABELQ = str(Path(sys.executable).with_name("babelq"))


def process_env(settings: Settings, runner: str) -> dict[str, str]:
    """The environment of the started processes: ours, with the runner the bench asked for."""
    env = dict(os.environ)
    env["BABELQ_RUNNER"] = runner
    # The dataset repeats its questions: with the answer cache on, the bench would price the cache.
    env["BABELQ_CACHE_TTL_S"] = "0"
    env["BABELQ_API_HOST"] = settings.api_host
    env["BABELQ_API_PORT"] = str(settings.api_port)
    return env


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `babelq COMMAND` with output to `log`; SIGTERM it (then kill) when done."""
    with log.open("wb") as sink:
        process = subprocess.Popen([BABELQ, *command], env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def fleet(settings: Settings, runner: str, need_api: bool, out: Path) -> Iterator[dict[str, int]]:
    """Start what `babelq run` would: the embedded stack, or a worker (and an API) on the broker.
    Yields the started processes' pids by role (run, or worker and api)."""
    env = process_env(settings, runner)
    with ExitStack() as stack:
        if settings.embedded:
            process = stack.enter_context(started(["run"], env, out / "run.log"))
            wait_for_api(settings, [process], out / "run.log")
            # The API answers before the worker beside it has started: load sent then would
            # measure the start-up, not the stack.
            _wait_for_log(process, out / "run.log", "ready.")
            yield {"run": process.pid}
            return
        worker = stack.enter_context(started(["worker"], env, out / "worker.log"))
        pids = {"worker": worker.pid}
        if need_api:
            api = stack.enter_context(started(["api"], env, out / "api.log"))
            pids["api"] = api.pid
            wait_for_api(settings, [worker, api], out / "api.log")
        _wait_for_log(worker, out / "worker.log", "ready.")
        yield pids


def wait_for_api(
    settings: Settings, processes: list[subprocess.Popen[bytes]], log: Path, timeout: float = 180
) -> None:
    url = f"http://{settings.api_host}:{settings.api_port}/readyz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(processes, log)
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise BabelqError(f"the API at {url} did not become ready; see {log}")


def _wait_for_log(process: subprocess.Popen[bytes], log: Path, marker: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive([process], log)
        if marker in log.read_text(errors="replace"):
            return
        time.sleep(0.3)
    raise BabelqError(f"the worker did not become ready; see {log}")


def _check_alive(processes: list[subprocess.Popen[bytes]], log: Path) -> None:
    for process in processes:
        if process.poll() is not None:
            raise BabelqError(f"a benchmark process exited with {process.returncode}; see {log}")
