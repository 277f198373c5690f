"""A watcher that kills what a worker process started once that worker is gone, however it died.

vLLM runs its engine in processes of its own (`VLLM::EngineCore`, `VLLM::Worker`), started with
spawn. They watch each other, but the engine core does not watch the process that started it: a
worker killed with SIGKILL (the OOM killer, `kill -9`, a node agent) leaves them re-parented to
init, holding host memory or a whole GPU, for minutes. Linux has no way for a process to take its
grandchildren with it (PR_SET_PDEATHSIG is per child and set by the child; vLLM sets none), so the
worker starts this small process first. It notes the worker's descendants twice a second and,
when its stdin (a pipe only the worker holds) reaches end of file, kills every one it noted that
is still the same process (same pid and start time). A clean shutdown ends the same way, after
vLLM has stopped its processes itself: then there is nothing left to kill.

    python -m workers.engine_guardian WORKER_PID     # started by `Guardian.start`
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import psutil

POLL_S = 0.5
CLOSING = b"closing\n"
"""What a worker writes before a clean close: its engine has stopped, so wait a moment for what
is still exiting rather than kill it at once, and say nothing."""
GRACE_S = 5.0
Seen = dict[int, float]
"""pid -> the process's start time, so a reused pid is never killed."""


@dataclass
class Guardian:
    """The worker's handle on its guardian process: closing it is the worker's last word."""

    process: subprocess.Popen[bytes]
    closed: bool = field(default=False)

    @classmethod
    def start(cls) -> Guardian:
        """Start a guardian of this process (before the processes it must outlive are started)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.engine_guardian", str(os.getpid())],
            stdin=subprocess.PIPE,
            close_fds=True,
        )
        return cls(process)

    def close(self, timeout: float = 10.0) -> None:
        """The worker is done: the guardian kills what is left of its descendants and exits."""
        if self.closed:
            return
        self.closed = True
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.write(CLOSING)
            self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()


def descendants(pid: int, guardian_pid: int) -> Seen:
    """The live descendants of `pid` (not the guardian itself), with their start times."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return {}
    seen: Seen = {}
    for child in children:
        with contextlib.suppress(psutil.Error):
            if child.pid != guardian_pid:
                seen[child.pid] = child.create_time()
    return seen


def kill_seen(seen: Seen) -> list[int]:
    """SIGKILL each noted process still running as itself, and its own descendants; the pids killed."""
    targets: dict[int, psutil.Process] = {}
    for pid, started in seen.items():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.create_time() == started:
                targets[pid] = process
                targets.update((child.pid, child) for child in process.children(recursive=True))
    for process in targets.values():
        with contextlib.suppress(psutil.Error):
            process.kill()
    return sorted(targets)


def watch(worker_pid: int, stdin_fd: int = 0, poll_s: float = POLL_S) -> tuple[bool, list[int]]:
    """Note the worker's descendants until stdin ends, then kill them: (a clean close, pids killed)."""
    seen: Seen = {}
    me = os.getpid()
    said = b""
    while True:
        seen.update(descendants(worker_pid, me))
        readable, _, _ = select.select([stdin_fd], [], [], poll_s)
        if not readable:
            continue
        chunk = os.read(stdin_fd, 4096)
        if chunk:
            said = (said + chunk)[-len(CLOSING) :]
            continue
        clean = said == CLOSING
        if clean:
            wait_for_exit(seen, GRACE_S)
        return clean, kill_seen(seen)


def wait_for_exit(seen: Seen, timeout_s: float) -> None:
    """Give the noted processes that are still exiting on their own up to `timeout_s`."""
    processes = []
    for pid in seen:
        with contextlib.suppress(psutil.Error):
            processes.append(psutil.Process(pid))
    psutil.wait_procs(processes, timeout=timeout_s)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m workers.engine_guardian WORKER_PID", file=sys.stderr)
        return 2
    # Ctrl-C and a group SIGTERM reach the guardian too: it must outlive the worker's own shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    clean, killed = watch(int(argv[0]))
    if killed and not clean:
        print(f"babelq engine guardian: worker {argv[0]} is gone; killed {killed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
