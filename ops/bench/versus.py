"""babelq against the strongest honest baselines, one after the other on the same machine, the
same model, the same prompts (the shipped dataset through the default profile's system prompts
and the chat template) and the same answer cap:

- vLLM's offline `LLM.generate` on every prompt at once (the engine's own limit);
- a Celery + celery-batches worker calling `LLM.generate` per flushed batch (ops/bench/
  celery_batches_vllm.py): what a user who knows the field writes first;
- `babelq run` with its shipped defaults, answers read back from its store through the API.

Each system answers `--jobs` chats sent at once (jobs/s from the first send to the last answer),
then, with `--rate`, Poisson arrivals for `--duration` seconds (P50/P99 from send to answer).
Every text is made unique (a numbered suffix) so that babelq's answer cache cannot answer a
repeated question: the model path is what is measured. vLLM's prefix caching is on in all three
(its default), so the shared system prompt is computed once in each.

    python -m ops.bench.versus [--jobs 128] [--max-new-tokens 32] [--rate 7 --duration 120] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings, load_settings
from ops.bench.arrivals import poisson_schedule
from ops.bench.dataset import load_texts
from ops.bench.direct import first_turn_prompts
from ops.bench.stats import percentile
from ops.faults.services import free_port
from routing.language import LanguageDetector
from routing.table import Profile, load_table
from workers.model_loader import ChatTemplate, load_tokenizer, resolve_dtype
from workers.runtime import resolve_model, vllm_options

Send = Callable[[str], float]
"""Send one text, return when its answer is there; the seconds it took."""
REPO = Path(__file__).resolve().parents[2]
CELERY_BATCHES_DIR = REPO / "var" / "celery-batches"


def unique_texts(count: int) -> list[str]:
    texts = load_texts(None)
    return [f"{texts[i % len(texts)]} (#{i + 1})" for i in range(count)]


def burst(send: Send, texts: Sequence[str]) -> dict[str, float]:
    """Every text sent at once; jobs/s from the first send to the last answer."""
    started = time.perf_counter()
    with ThreadPoolExecutor(len(texts)) as pool:
        list(pool.map(send, texts))
    seconds = time.perf_counter() - started
    return {"jobs": len(texts), "seconds": round(seconds, 2), "jobs_s": round(len(texts) / seconds, 2)}


def poisson(send: Send, rate: float, duration_s: float, offset: int) -> dict[str, Any]:
    """Open-loop Poisson arrivals; P50/P99 of send-to-answer."""
    schedule = poisson_schedule(rate, duration_s, seed=1)
    texts = unique_texts(offset + len(schedule))[offset:]
    latencies: list[float] = []
    with ThreadPoolExecutor(256) as pool:
        start = time.monotonic()
        futures = []
        for at, text in zip(schedule, texts, strict=True):
            time.sleep(max(0.0, start + at - time.monotonic()))
            futures.append(pool.submit(send, text))
        latencies = [future.result() for future in futures]
    return {
        "rate": rate,
        "jobs": len(latencies),
        "p50_s": round(percentile(latencies, 50) or 0, 3),
        "p99_s": round(percentile(latencies, 99) or 0, 3),
    }


def measure(name: str, send: Send, args: argparse.Namespace) -> dict[str, Any]:
    print(f"{name}: {args.jobs} chats at once", flush=True)
    result: dict[str, Any] = {"burst": burst(send, unique_texts(args.jobs))}
    if args.rate:
        print(f"{name}: Poisson {args.rate}/s for {args.duration} s", flush=True)
        result["poisson"] = poisson(send, args.rate, args.duration, offset=args.jobs)
    print(f"{name}: {result}", flush=True)
    return result


@contextmanager
def babelq_run(env: dict[str, str], port: int) -> Iterator[Send]:
    """`babelq run` (the embedded stack, shipped defaults) and a sender through its API."""
    log = Path(env["BABELQ_VAR_DIR"]) / "babelq-run.log"
    process = _start([str(Path(sys.executable).with_name("babelq")), "run"], env, log)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)

    def send(text: str) -> float:
        sent = time.perf_counter()
        reply = client.post("/v1/messages", params={"wait": 60}, json={"text": text}).json()
        while reply.get("status") not in ("done", "failed", "expired"):  # 60 s: the API's longest wait
            if "job_id" not in reply:
                raise RuntimeError(f"babelq refused the message: {reply}")
            reply = client.get(f"/v1/jobs/{reply['job_id']}", params={"wait": 60}).json()
        if reply["status"] != "done":
            raise RuntimeError(f"babelq did not answer: {reply}")
        return time.perf_counter() - sent

    try:
        _wait_for(lambda: _answers(send), 600, f"babelq run to answer (its log: {log})")
        yield send
    finally:
        client.close()
        _stop(process)


@contextmanager
def celery_batches_worker(
    env: dict[str, str], broker: str, tokenize: Callable[[str], list[int]]
) -> Iterator[Send]:
    """The celery-batches + vLLM worker, and a sender that waits for each result in Redis."""
    from celery import Celery

    app = Celery("baseline", broker=broker, backend=broker)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "ops.bench.celery_batches_vllm",
        "worker",
        "--pool",
        "solo",
        "-Q",
        "baseline",
        "--loglevel",
        "WARNING",
    ]
    path = os.pathsep.join([str(CELERY_BATCHES_DIR), str(REPO)])
    log = Path(tempfile.mkstemp(prefix="celery-batches-", suffix=".log")[1])
    process = _start(command, {**env, "PYTHONPATH": path, "BASELINE_BROKER": broker}, log)

    def send(text: str) -> float:
        sent = time.perf_counter()
        app.send_task("ops.bench.celery_batches_vllm.chat", args=[tokenize(text)], queue="baseline").get(600)
        return time.perf_counter() - sent

    try:
        _wait_for(lambda: "engine ready" in log.read_text(errors="replace"), 600, "the baseline worker")
        send("warm-up")
        yield send
    finally:
        _stop(process)


def _answers(send: Send) -> bool:
    try:
        send("warm-up")
        return True
    except (httpx.HTTPError, RuntimeError, ValueError):
        return False


def _start(command: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    sink = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(
        command, env=env, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group (vLLM's engine processes too), SIGKILL after 60 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(60)
    time.sleep(2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything of the group still there


def _wait_for(ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout_s} s")
        time.sleep(1)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    model = _default_model()
    tokenize = _tokenizer(model)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "dtype": model.dtype},
        "jobs": args.jobs,
        "max_new_tokens": args.max_new_tokens,
    }
    systems = args.systems.split(",")
    env = {**os.environ, "BABELQ_MAX_NEW_TOKENS": str(args.max_new_tokens)}
    if "offline" in systems:
        results["vllm_offline_jobs_s"] = _vllm_offline(model, args)
    if "celery-batches" in systems:
        results["celery_batches_vllm"] = _celery_batches(model, env, tokenize, args)
    if "babelq" in systems:
        results["babelq_run"] = _babelq(model.settings, env, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.versus")
    parser.add_argument("--jobs", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--systems", default="offline,celery-batches,babelq")
    parser.add_argument("--out", type=Path, default=Path("var/versus.json"))
    return parser


@dataclass(frozen=True)
class DefaultModel:
    """The default profile's model as all three systems run it: on the CPU, in its dtype."""

    settings: Settings
    profile: Profile
    model: str
    dtype: str


def _default_model() -> DefaultModel:
    settings = load_settings()
    profile = load_table().profiles["default"]
    return DefaultModel(
        settings, profile, resolve_model(settings, profile), resolve_dtype(profile.dtype, "cpu")
    )


def _tokenizer(model: DefaultModel) -> Callable[[str], list[int]]:
    """A text as the token ids of its first-turn prompt: what the celery-batches baseline is sent."""
    tokenizer = load_tokenizer(model.model)
    template = ChatTemplate(tokenizer)
    detector = LanguageDetector()  # loaded once: not per job, in the baseline's send path

    def tokenize(text: str) -> list[int]:
        (prompt,) = first_turn_prompts(model.profile, [text], detector)
        ids: list[int] = tokenizer(template.render(prompt), add_special_tokens=False).input_ids
        return ids

    return tokenize


def _vllm_offline(model: DefaultModel, args: argparse.Namespace) -> float:
    """vLLM's offline `LLM.generate` on every prompt at once: jobs/s."""
    from ops.bench.vllm_offline import offline_jobs_per_s

    options = vllm_options(model.settings, model.profile, model.model, "cpu", model.dtype)
    prompts = first_turn_prompts(model.profile, unique_texts(args.jobs))
    jobs_s = round(offline_jobs_per_s(options, prompts, args.jobs, args.max_new_tokens), 2)
    print(f"vLLM offline: {jobs_s} jobs/s", flush=True)
    return jobs_s


def _celery_batches(
    model: DefaultModel, env: dict[str, str], tokenize: Callable[[str], list[int]], args: argparse.Namespace
) -> dict[str, Any]:
    """The celery-batches + vLLM worker, measured."""
    _install_celery_batches()
    baseline_env = {
        **env,
        "BASELINE_MODEL": model.model,
        "BASELINE_DTYPE": model.dtype,
        "BASELINE_MAX_NEW_TOKENS": str(args.max_new_tokens),
        "BASELINE_REPETITION_PENALTY": str(model.profile.repetition_penalty),
    }
    with celery_batches_worker(baseline_env, args.broker, tokenize) as send:
        return measure("celery-batches + vLLM", send, args)


def _babelq(settings: Settings, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """`babelq run` with its shipped defaults, in its own var dir, measured through its API."""
    port = free_port()
    babelq_env = {
        **env,
        "BABELQ_API_PORT": str(port),
        "BABELQ_VAR_DIR": tempfile.mkdtemp(prefix="versus-babelq-"),
        "BABELQ_MODEL_CACHE_DIR": str(settings.models_dir.resolve()),
    }
    with babelq_run(babelq_env, port) as send:
        return measure("babelq run", send, args)


def _install_celery_batches() -> None:
    """celery-batches beside babelq's packages, not among them (it declares celery<5.7)."""
    if (CELERY_BATCHES_DIR / "celery_batches").is_dir():
        return
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(CELERY_BATCHES_DIR),
            "celery-batches==0.11",
        ],
        check=True,
    )


if __name__ == "__main__":
    sys.exit(main())
