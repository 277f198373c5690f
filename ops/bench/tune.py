"""`babelq tune`: measure a profile's engine × batch size × max wait × dtype on this machine's
device, in-process (the model and its batching, no queue), and pick the fastest configuration
whose P99 at half load meets the target; write it into a routing table on request.

Each batch-size ladder is climbed from the smallest size and left at the first size that runs
out of memory or stops paying (tuning.keeps_growing).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import yaml

from core.errors import BabelqError, ConfigurationError
from core.settings import Settings
from ops.bench.arrivals import poisson_schedule
from ops.bench.dataset import load_texts
from ops.bench.direct import prompt_requests, saturated_jobs_per_s
from ops.bench.stats import percentile
from ops.bench.tuning import ENGINES, Candidate, Choice, Trial, choose, keeps_growing, ladders
from routing.table import Profile, load_table, read_table_data, table_from_dict
from routing.table_spec import Dtype, Engine
from workers.backoff import is_out_of_memory
from workers.feeders import Feeder, PromptRequest
from workers.model_loader import load_model, release_memory, resolve_device, resolve_dtype
from workers.runners.base import Runner, StreamingRunner
from workers.runners.static import StaticBatchRunner
from workers.runtime import (
    WARM_UP_PROMPT,
    close_runner,
    effective_profile,
    make_feeder,
    resolve_model,
    vllm_runner,
)
from workers.vllm_options import vllm_installed

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TuneOptions:
    """What to sweep; checked when built."""

    profile: str = "default"
    engines: tuple[str, ...] = ENGINES
    batch_sizes: tuple[int, ...] = (8, 16, 32, 64)
    waits_ms: tuple[float, ...] = (20.0,)
    dtypes: tuple[str, ...] = ("auto",)
    jobs: int = 64
    p99_target_ms: float | None = None
    dataset: Path | None = None
    out: Path = Path("tune-out")
    write: Path | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.jobs < 2:
            raise ConfigurationError("--jobs must be at least 2")
        if not self.dtypes:
            raise ConfigurationError("--dtypes needs at least one precision")
        if self.p99_target_ms is not None and self.p99_target_ms <= 0:
            raise ConfigurationError("--p99-target-ms must be > 0")
        try:
            ladders(self.engines, self.batch_sizes, self.waits_ms, "auto")
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc


def run_tune(settings: Settings, options: TuneOptions, progress: Progress) -> dict[str, Any]:
    """Sweep, pick, write DIR/tune.json and DIR/tune.png (and the routing table if asked)."""
    table = load_table(settings.routes_file)
    if options.profile not in table.profiles:
        raise ConfigurationError(f"no profile {options.profile!r} in the routing table")
    base = effective_profile(settings, table.profiles[options.profile])
    texts = load_texts(options.dataset)
    trials: list[Trial] = []
    for dtype in options.dtypes:
        trials.extend(_sweep_dtype(settings, base, dtype, texts=texts, options=options, progress=progress))
    choice = choose(trials, options.p99_target_ms)
    result = _result(settings, options, trials, choice, base.max_new_tokens)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "tune.json").write_text(_json(result), encoding="utf-8")
    _plot(trials, choice, options.out / "tune.png")
    if options.write is not None:
        write_profile(settings.routes_file, options.write, options.profile, choice.trial.candidate)
    return result


def _sweep_dtype(
    settings: Settings,
    base: Profile,
    dtype: str,
    *,
    texts: list[str],
    options: TuneOptions,
    progress: Progress,
) -> list[Trial]:
    """Every ladder of every engine in one precision; each engine's model is loaded (or its vLLM
    engine started) once for all its ladders: loading is not measured."""
    trials: list[Trial] = []
    for engine in options.engines:
        if engine == "vllm" and not vllm_installed():
            progress("vllm: not installed here (make install-vllm), skipped")
            continue
        with engine_runners(settings, base, engine, dtype, max(options.batch_sizes)) as (resolved, make):
            for ladder in ladders([engine], options.batch_sizes, options.waits_ms, resolved):
                trials.extend(_climb(make, base, ladder, texts=texts, options=options, progress=progress))
    return trials


MakeRunner = Callable[[Profile], Runner]


@contextmanager
def engine_runners(
    settings: Settings, base: Profile, engine: str, dtype: str, largest_batch: int
) -> Iterator[tuple[str, MakeRunner]]:
    """(the resolved dtype, a runner for a candidate's profile) on one loaded model or engine.

    The static engine's runners share one loaded model. vLLM's engine is started once, at the
    largest batch size of the sweep (its max_num_seqs), and each candidate caps it live."""
    model = resolve_model(settings, base)
    device = resolve_device(settings.device)
    resolved = resolve_dtype(dtype, device)
    if engine == "static":
        loaded = load_model(model, device=device, dtype=resolved)
        try:
            yield resolved, lambda profile: StaticBatchRunner(loaded, profile.repetition_penalty)
        finally:
            del loaded
            release_memory()  # before the next precision loads
        return
    widest = replace(base, max_batch_size=largest_batch)
    runner, _facts = vllm_runner(settings, widest, model, device, resolved)
    assert isinstance(runner, StreamingRunner)
    streaming = runner

    def capped(profile: Profile) -> Runner:
        streaming.set_max_batch_size(profile.max_batch_size)
        return streaming

    try:
        yield resolved, capped
    finally:
        close_runner(runner)


def _climb(
    make: MakeRunner,
    base: Profile,
    ladder: list[Candidate],
    *,
    texts: list[str],
    options: TuneOptions,
    progress: Progress,
) -> list[Trial]:
    climbed: list[Trial] = []
    for candidate in ladder:
        progress(
            f"{candidate.engine} batch {candidate.max_batch_size} wait {candidate.max_wait_ms:g} ms "
            f"{candidate.dtype}"
        )
        climbed.append(measure(make, _profile(base, candidate), texts, options.jobs, options.seed))
        if not keeps_growing(climbed):
            break
    return climbed


def _profile(base: Profile, candidate: Candidate) -> Profile:
    # ladders() took only known engines; a precision the loader does not know is its error
    return replace(
        base,
        engine=cast(Engine, candidate.engine),
        max_batch_size=candidate.max_batch_size,
        max_wait_ms=candidate.max_wait_ms,
        dtype=cast(Dtype, candidate.dtype),
    )


def measure(make: MakeRunner, profile: Profile, texts: Sequence[str], jobs: int, seed: int = 0) -> Trial:
    """Jobs/s with every job submitted at once, then P99 latency of Poisson arrivals at half that."""
    candidate = Candidate(profile.engine, profile.max_batch_size, profile.max_wait_ms, profile.dtype)
    try:
        runner = make(profile)
        runner.generate([WARM_UP_PROMPT], max_new_tokens=1)
        requests = prompt_requests(runner, profile, [texts[i % len(texts)] for i in range(jobs)])
        feeder = make_feeder(runner, profile)
        try:
            jobs_s = saturated_jobs_per_s(feeder, requests)
            if feeder.size_cap < profile.max_batch_size:  # the OOM backoff split its batches
                return Trial(candidate, None, None, f"out of memory: batches shrank to {feeder.size_cap}")
            return Trial(candidate, jobs_s, half_load_p99_ms(feeder, requests, jobs_s / 2, seed))
        finally:
            if not isinstance(runner, StreamingRunner):  # vLLM's engine serves the next candidate
                feeder.close()
    except Exception as exc:
        return _failed(candidate, exc)


def _failed(candidate: Candidate, exc: Exception) -> Trial:
    """A trial that could not run: out of memory, or refused (e.g. an engine the model lacks)."""
    if not (isinstance(exc, BabelqError) or is_out_of_memory(exc)):
        raise exc
    return Trial(candidate, None, None, f"{type(exc).__name__}: {exc}"[:300])


def half_load_p99_ms(
    feeder: Feeder, requests: Sequence[tuple[PromptRequest, int]], rate: float, seed: int = 0
) -> float | None:
    """P99 of submit-to-answer times when the requests arrive as a Poisson process of `rate`/s."""
    schedule = poisson_schedule(rate, len(requests) / rate, seed=seed)[: len(requests)]
    started = time.perf_counter()
    done = threading.Semaphore(0)
    latencies: list[float] = []
    futures: list[Future[Any]] = []
    for at, (request, tokens) in zip(schedule, requests, strict=False):
        time.sleep(max(0.0, started + at - time.perf_counter()))
        submitted = time.perf_counter()  # before submit: encoding a prompt is part of its wait
        futures.append(_timed(feeder.submit(request, tokens), submitted, latencies, done))
    for future in futures:
        future.result()
    for _ in futures:  # result() may return before a future's callback has noted its time
        done.acquire()
    return percentile(latencies, 99)


def _timed(
    future: Future[Any], submitted: float, latencies: list[float], done: threading.Semaphore
) -> Future[Any]:
    def note(_future: Future[Any]) -> None:
        latencies.append((time.perf_counter() - submitted) * 1000.0)
        done.release()

    future.add_done_callback(note)
    return future


def write_profile(source: Path | None, target: Path, name: str, candidate: Candidate) -> None:
    """The routing table at `source` (the packaged default if None) with the profile set to the
    candidate, checked as a table, then written to `target` in one step (no half-written file)."""
    data = read_table_data(source)
    data["profiles"][name].update(
        engine=candidate.engine,
        max_batch_size=candidate.max_batch_size,
        max_wait_ms=candidate.max_wait_ms,
        dtype=candidate.dtype,
    )
    table_from_dict(data)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staging.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    staging.replace(target)


def _result(
    settings: Settings, options: TuneOptions, trials: list[Trial], choice: Choice, max_new_tokens: int
) -> dict[str, Any]:
    return {
        "chosen": asdict(choice.trial.candidate),
        "met_target": choice.met_target,
        "jobs_s": choice.trial.jobs_s,
        "p99_ms": choice.trial.p99_ms,
        "p99_target_ms": options.p99_target_ms,
        "device": resolve_device(settings.device),
        "cpus": os.cpu_count(),
        "jobs_per_trial": options.jobs,
        "max_new_tokens": max_new_tokens,
        "trials": [asdict(t) | {"own_target_ms": t.own_target_ms} for t in trials],
        "written_to": str(options.write) if options.write else None,
    }


def _json(result: dict[str, Any]) -> str:
    import json

    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"


def _plot(trials: list[Trial], choice: Choice, path: Path) -> None:
    """Throughput against P99 at half load, one point per trial, the pick circled."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to a file
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for trial, (p99, jobs_s) in _points(trials):
        c = trial.candidate
        axes.scatter(p99, jobs_s, color="tab:blue" if c.engine == "static" else "tab:orange")
        axes.annotate(f"{c.engine[0]}{c.max_batch_size}/{c.max_wait_ms:g}ms", (p99, jobs_s))
    for _trial, (p99, jobs_s) in _points([choice.trial]):
        axes.scatter(p99, jobs_s, s=300, facecolors="none", edgecolors="red")
    axes.set(
        xlabel="P99 at half load (ms, in-process)",
        ylabel="jobs/s at saturation",
        title="babelq tune (blue: static, orange: vllm; circled: chosen)",
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _points(trials: list[Trial]) -> list[tuple[Trial, tuple[float, float]]]:
    return [(t, (t.p99_ms, t.jobs_s)) for t in trials if t.jobs_s is not None and t.p99_ms is not None]
