"""GPU hosts: which GPUs to use, and one fresh worker process per GPU, each pinned to its GPU.

The parent never initialises CUDA (it counts GPUs through NVML), and children are started fresh
(`subprocess`, not fork), so no process forks after CUDA is initialised (celery#3402); each child
sees one GPU as cuda:0 through CUDA_VISIBLE_DEVICES and loads its model after it starts.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from core.errors import ConfigurationError

log = logging.getLogger(__name__)
BABELQ = str(Path(sys.executable).with_name("babelq"))
MAX_RESTARTS_PER_MINUTE = 5


def visible_gpu_count() -> int:
    """GPUs NVML can see (0 without a driver); NVML does not initialise CUDA in this process."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver, no library: no GPUs
        return 0


def select_gpus(spec: str, available: int) -> list[int] | None:
    """`none` → None (CPU); `all` → every GPU; `0,2` → those. Anything else is refused clearly."""
    spec = spec.strip().lower()
    if spec == "none":
        return None
    if spec == "all":
        if available == 0:
            raise ConfigurationError("--gpus all: no GPU is visible (NVML found none); use --gpus none")
        return list(range(available))
    return _listed_gpus(spec, available)


def _listed_gpus(spec: str, available: int) -> list[int]:
    try:
        gpus = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigurationError(f"--gpus must be none, all or a list like 0,1; got {spec!r}") from exc
    if not gpus or len(set(gpus)) != len(gpus) or any(g < 0 for g in gpus):
        raise ConfigurationError(f"--gpus must list distinct GPU indexes; got {spec!r}")
    missing = [g for g in gpus if g >= available]
    if missing:
        raise ConfigurationError(f"--gpus {spec}: GPU {missing} not visible ({available} found)")
    return gpus


def child_env(base: Mapping[str, str], gpu: int) -> dict[str, str]:
    """The environment of the worker for one GPU: only that GPU visible, as cuda:0."""
    env = dict(base)
    env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    env["BABELQ_DEVICE"] = "cuda"
    return env


def child_command(gpu: int, queues: Sequence[str]) -> list[str]:
    command = [BABELQ, "worker", "--pinned-gpu", str(gpu)]
    return command + (["--queues", ",".join(queues)] if queues else [])


class GpuFleet:
    """Starts one worker per GPU, forwards SIGTERM/SIGINT to them, restarts one that crashes. A
    worker that crashes more than MAX_RESTARTS_PER_MINUTE times a minute stops the fleet, which
    exits non-zero: its own supervisor (Docker, Kubernetes, systemd) restarts it and shows it."""

    def __init__(self, gpus: Sequence[int], queues: Sequence[str], env: Mapping[str, str]) -> None:
        self._gpus = list(gpus)
        self._queues = list(queues)
        self._env = dict(env)
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._restarts: dict[int, list[float]] = {g: [] for g in gpus}
        self._stopping = False
        self._gave_up: int | None = None

    def run(self) -> int:
        """Run until told to stop or a worker keeps crashing; returns the worst exit code of the
        children (that worker's, at least 1, when it gave up)."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for gpu in self._gpus:
            self._start(gpu)
        while not self._stopping:
            time.sleep(0.5)
            self._restart_crashed()
        worst = max((child.wait() for child in self._children.values()), default=0)
        return max(worst, self._gave_up or 0)

    def _start(self, gpu: int) -> None:
        log.info("starting worker gpu%d", gpu)
        self._children[gpu] = subprocess.Popen(
            child_command(gpu, self._queues), env=child_env(self._env, gpu)
        )

    def _restart_crashed(self) -> None:
        for gpu, child in list(self._children.items()):
            if child.poll() is None or self._stopping:
                continue
            recent = [t for t in self._restarts[gpu] if time.monotonic() - t < 60] + [time.monotonic()]
            self._restarts[gpu] = recent
            if len(recent) > MAX_RESTARTS_PER_MINUTE:
                log.error("worker gpu%d keeps crashing (exit %s); stopping the fleet", gpu, child.returncode)
                self._gave_up = child.returncode if child.returncode and child.returncode > 0 else 1
                self._stop(signal.SIGTERM, None)
                return
            log.warning("worker gpu%d exited with %s; restarting it", gpu, child.returncode)
            self._start(gpu)

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        for child in self._children.values():
            if child.poll() is None:
                child.send_signal(signum)


def gpu_readings(index: int = 0) -> dict[str, float] | None:
    """Utilisation (%) and memory (MiB) of the GPU this process sees as `index`, through NVML;
    None where there is no GPU or no driver. With CUDA_VISIBLE_DEVICES=N the one GPU is index 0
    to CUDA but N to NVML, so the pinned GPU's NVML index is read from that variable."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(_nvml_index(index))
            util = pynvml.nvmlDeviceGetUtilizationRates(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            mib = 1024 * 1024
            return {
                "gpu_util_pct": float(util.gpu),
                "gpu_memory_used_mib": memory.used / mib,
                "gpu_memory_total_mib": memory.total / mib,
            }
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver, no library, no such GPU: nothing to report
        return None


def _nvml_index(index: int) -> int:
    import os

    visible = [part for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    if index < len(visible) and visible[index].strip().isdigit():
        return int(visible[index])
    return index
