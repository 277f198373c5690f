"""One scenario's world: its settings, its worker processes (real `babelq worker`s, or a program
the caller gives), a load of jobs published as the API publishes them, and what the store and
the dead-letter queue say about them at the end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.jobs import new_id
from core.settings import load_settings
from ops.faults.tally import FINAL, JobFate
from persistence.db import connect
from persistence.migrate import upgrade
from persistence.tables import ASSISTANT, jobs, messages
from producers.messages import MessageIn
from producers.stack import Stack, build_stack
from transport.dead_letters import purge_dead_letters, walk_dead_letters
from transport.queue_depth import QueueDepths

READY = "ready."


@dataclass(frozen=True)
class FaultSetup:
    """What every scenario runs on; the defaults are what a user gets."""

    brokers: Mapping[str, str]  # "redis" / "amqp" -> URL
    database_url: str
    model: str
    workdir: Path
    worker_program: Sequence[str] = ("babelq",)
    jobs: int = 50
    settings: Mapping[str, str] = field(default_factory=dict)  # BABELQ_* overrides (lower case)
    worker_env: Mapping[str, str] = field(default_factory=dict)  # extra environment for workers


class FaultRun:
    def __init__(
        self,
        setup: FaultSetup,
        name: str,
        values: Mapping[str, str],
        services: Mapping[str, Any] | None = None,
    ) -> None:
        self.setup = setup
        self.services = dict(services or {})
        self.directory = setup.workdir / name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.values = {
            "database_url": setup.database_url,
            "model": setup.model,
            "var_dir": str(self.directory / "var"),
            "cache_ttl_s": "0",
            **setup.settings,
            **values,
        }
        upgrade(self.values["database_url"])
        self.stack: Stack = build_stack(load_settings(**self.values))
        self._empty_queues()
        self.processes: list[subprocess.Popen[bytes]] = []
        self._producers: list[Stack] = []

    def producer(self, **values: str) -> Stack:
        """Another producer stack (an API process, say) with these settings changed."""
        stack = build_stack(load_settings(**{**self.values, **values}))
        self._producers.append(stack)
        return stack

    def env(self, **values: str) -> dict[str, str]:
        """The environment of a babelq process of this run: BABELQ_* from the settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BABELQ_")}
        env.update({f"BABELQ_{k.upper()}": v for k, v in {**self.values, **values}.items()})
        return {**env, "PYTHONUNBUFFERED": "1", **self.setup.worker_env}

    def start(
        self, args: Sequence[str], log_name: str, env: Mapping[str, str] | None = None, timeout_s: float = 120
    ) -> subprocess.Popen[bytes]:
        """Start the program with `args`, wait until its log says it is ready."""
        log = self.directory / f"{log_name}.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [*self.setup.worker_program, *args],
                env=dict(env or self.env()),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        wait_for(lambda: READY in log.read_text(errors="replace") or process.poll() is not None, timeout_s)
        if process.poll() is not None:
            raise RuntimeError(f"{log_name} exited {process.returncode}: {log.read_text()[-2000:]}")
        return process

    def worker(self, log_name: str, **values: str) -> subprocess.Popen[bytes]:
        return self.start(["worker"], log_name, self.env(**values))

    def publish_load(self, texts: Sequence[str] | None = None) -> list[str]:
        """The load's jobs, submitted as the API submits them; returns their ids."""
        texts = texts or [f"Question {i}: where is my parcel {new_id()[:8]}?" for i in range(self.setup.jobs)]
        return [self.stack.intake.submit(MessageIn(text=text, language="en")).job.job_id for text in texts]

    def publish_over_http(self, port: int) -> list[str]:
        """The load, sent to an API on 127.0.0.1:`port` as a client would; returns the job ids."""
        ids = []
        for i in range(self.setup.jobs):
            body = json.dumps({"text": f"Question {i}: where is my parcel {new_id()[:8]}?", "language": "en"})
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/messages", body.encode(), {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                ids.append(json.loads(response.read())["job_id"])
        return ids

    def waiting(self, queue: str) -> int:
        """How many messages wait on `queue` (delivered ones, held or on their way, not counted)."""
        [depth] = QueueDepths(self.stack.celery, [queue]).read()
        return depth.ready or 0

    def running_count(self, ids: Sequence[str]) -> int:
        return sum(1 for fate in self.fates(ids).values() if fate.status == "running")

    def running_on(self, process: subprocess.Popen[bytes]) -> int:
        """How many jobs the store has running on that worker process now."""
        query = select(func.count()).where(jobs.c.status == "running", jobs.c.worker == node_of(process))
        with connect(self.stack.factory) as connection:
            return int(connection.execute(query).scalar() or 0)

    def wait_final(self, ids: Sequence[str], timeout_s: float) -> None:
        """Until every job is final, or `timeout_s` has passed (what is not final then is lost)."""
        wait_for(
            lambda: all(fate.status in FINAL for fate in self.fates(ids).values()), timeout_s, quiet=True
        )

    def fates(self, ids: Sequence[str]) -> dict[str, JobFate]:
        answers = (
            select(messages.c.job_id, func.count())
            .where(messages.c.job_id.in_(list(ids)), messages.c.role == ASSISTANT)
            .group_by(messages.c.job_id)
        )
        states = select(jobs.c.job_id, jobs.c.status, jobs.c.finished_at).where(jobs.c.job_id.in_(list(ids)))
        with connect(self.stack.factory) as connection:
            counts: dict[str, int] = dict(connection.execute(answers).tuples().all())
            rows = {row.job_id: row for row in connection.execute(states)}
        return {job_id: _fate(rows.get(job_id), counts.get(job_id, 0)) for job_id in ids}

    def letters(self, ids: Sequence[str]) -> tuple[set[str], int]:
        """The load's jobs on the dead-letter queue, and how many other letters it holds."""
        letters = walk_dead_letters(self.stack.celery, self.stack.table.dead_letter_queue)
        wanted = set(ids)
        ours = [letter for letter in letters if letter.job_id in wanted]
        return {str(letter.job_id) for letter in ours}, len(letters) - len(ours)

    def close(self) -> None:
        for process in self.processes:
            stop(process)
        for producer in self._producers:
            producer.close()
        self._empty_queues()
        self.stack.close()

    def _empty_queues(self) -> None:
        with self.stack.celery.connection_for_write() as connection:
            for queue in self.stack.celery.conf.task_queues:
                bound = queue.bind(connection.default_channel)
                bound.declare()
                bound.purge()
        purge_dead_letters(self.stack.celery, self.stack.table.dead_letter_queue)


def _fate(row: Any, answers: int) -> JobFate:
    if row is None:
        return JobFate(status=None, answers=answers, finished_at=None)
    finished = row.finished_at
    return JobFate(
        status=str(row.status),
        answers=answers,
        finished_at=finished.timestamp() if finished is not None else None,
    )


def node_of(process: subprocess.Popen[bytes]) -> str:
    """The Celery node name `babelq worker` gives itself (workers/launcher.node_name)."""
    return f"cpu-{process.pid}@{socket.gethostname()}"


def wait_for(condition: Callable[[], bool], timeout_s: float, quiet: bool = False) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    if not quiet:
        raise TimeoutError(f"not within {timeout_s:g} s")
    return False


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
