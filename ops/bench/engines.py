"""Static against continuous batching, on one model and one workload, measured end to end.

The workload is what a chat worker sees: mixed customer-service prompts in several languages,
each with its own max_new_tokens. All requests are there at t=0. The static engine takes them
in batches of `batch_size`, in arrival order, and runs each batch to the largest limit in it
(then cuts every answer to its own limit): a batch pays for its longest answer. The continuous
engine gets every request at once and runs at most `batch_size` of them together, so both
engines decode the same number of sequences at a time. Decoding is greedy with the default
profile's repetition penalty, so both engines give the same answers (checked in the report).

On a shared machine other processes only ever slow a run down, so each engine runs `repeats`
times, alternating, and the fastest run is reported; the CPU seconds of this process are given
too, as a second view that load elsewhere disturbs less.

    python -m ops.bench.engines [MODEL_PATH]   # prints JSON
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import torch

from workers.model_loader import load_model
from workers.runners.base import ChatPrompt, Generation
from workers.runners.continuous import ContinuousBatchRunner
from workers.runners.static import StaticBatchRunner

DEFAULT_MODEL_PATH = "var/models/SmolLM2-135M-Instruct"
SYSTEM_PROMPT = "You are a helpful customer-service agent. Answer briefly and politely."
QUESTIONS = (
    "Hello, my order #4521 has not arrived yet. Can you tell me where it is?",
    "How do I reset my password? The link in the email does not work.",
    "Can I return a pair of shoes after 30 days if I never wore them?",
    "Hola, ¿dónde está mi pedido? Lo pedí hace dos semanas y todavía no ha llegado.",
    "Mi tarjeta fue rechazada al pagar, ¿qué puedo hacer?",
    "Bonjour, ma commande est arrivée abîmée. Comment obtenir un remboursement ?",
    "Je voudrais annuler mon abonnement avant la fin du mois.",
    "Guten Tag, wie kann ich meine Lieferadresse ändern?",
    "Meine Rechnung ist doppelt abgebucht worden. Bitte helfen Sie mir.",
    "Olá, quanto tempo demora a entrega para Lisboa?",
    "Ciao, posso cambiare la taglia di una giacca che ho ordinato ieri?",
    "你好，我的订单还没有到，怎么办？",
    "请问你们支持哪些付款方式？",
    "注文した商品がまだ届きません。確認してもらえますか？",
    "Hi, do you ship to Canada, and how much does it cost?",
    "Is there a discount for students?",
)
REPETITION_PENALTY = 1.2  # the default profile's (routing/default_routes.yaml)
Job = tuple[ChatPrompt, int]
"""A prompt and its own max_new_tokens."""


def workload(n_prompts: int, min_new: int, max_new: int, seed: int) -> list[Job]:
    """`n_prompts` chat prompts in arrival order, each with its own max_new_tokens in [min_new, max_new]."""
    rng = random.Random(seed)
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(n_prompts)]
    rng.shuffle(questions)
    return [(_chat(question), rng.randint(min_new, max_new)) for question in questions]


def _chat(question: str) -> ChatPrompt:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]


@dataclass(frozen=True)
class Run:
    """One timed pass of one engine over the workload."""

    seconds: float
    cpu_seconds: float  # of this process, all threads: less sensitive to other load on the machine
    tokens: int
    latencies: list[float]  # per request, seconds from t=0 until its answer ended
    texts: list[str]


def run_static(runner: StaticBatchRunner, jobs: Sequence[Job], batch_size: int) -> Run:
    """Batches of `batch_size` in arrival order, each run to its largest limit; answers cut to their own."""
    tokens, latencies, texts = 0, [], []
    start, cpu_start = time.perf_counter(), time.process_time()
    for first in range(0, len(jobs), batch_size):
        batch = jobs[first : first + batch_size]
        limits = [limit for _, limit in batch]
        results = runner.generate([prompt for prompt, _ in batch], max(limits))
        done = time.perf_counter() - start
        tokens += sum(min(r.completion_tokens, limit) for r, limit in zip(results, limits, strict=True))
        latencies += [done] * len(batch)
        texts += [result.text for result in results]
    return Run(time.perf_counter() - start, time.process_time() - cpu_start, tokens, latencies, texts)


def run_continuous(runner: ContinuousBatchRunner, jobs: Sequence[Job]) -> Run:
    """Every request submitted at once; each one's latency is when its own answer ended."""
    latencies: list[float] = [0.0] * len(jobs)
    start, cpu_start = time.perf_counter(), time.process_time()

    def record(index: int) -> Callable[[Future[Generation]], None]:
        def finished(_: Future[Generation]) -> None:
            latencies[index] = time.perf_counter() - start

        return finished

    futures: list[Future[Generation]] = []
    for index, (prompt, limit) in enumerate(jobs):
        future = runner.submit(prompt, limit)
        future.add_done_callback(record(index))
        futures.append(future)
    results = [future.result() for future in futures]
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    tokens = sum(result.completion_tokens for result in results)
    return Run(seconds, cpu_seconds, tokens, latencies, [result.text for result in results])


def compare_engines(
    model_path: str,
    n_prompts: int = 32,
    min_new: int = 8,
    max_new: int = 128,
    batch_size: int = 8,
    seed: int = 0,
    repetition_penalty: float = REPETITION_PENALTY,
    repeats: int = 2,
) -> dict[str, Any]:
    """Requests/s and generated tokens/s of both engines, for mixed limits and for equal ones (32)."""
    loaded = load_model(model_path)
    static = StaticBatchRunner(loaded, repetition_penalty=repetition_penalty)
    report: dict[str, Any] = {
        "model": model_path, "device": loaded.device, "dtype": loaded.dtype,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "n_prompts": n_prompts,
        "batch_size": batch_size, "repetition_penalty": repetition_penalty, "seed": seed,
        "repeats": repeats, "load_average_before": _load_average(),
    }  # fmt: skip
    with ContinuousBatchRunner(loaded, repetition_penalty, max_batch_size=batch_size) as continuous:
        _warm_up(static, continuous)
        mixed, equal = workload(n_prompts, min_new, max_new, seed), workload(n_prompts, 32, 32, seed)
        report["mixed"] = _compare(static, continuous, mixed, batch_size, repeats)
        report["equal"] = _compare(static, continuous, equal, batch_size, repeats)
    report["load_average_after"] = _load_average()
    return report


def _compare(
    static: StaticBatchRunner,
    continuous: ContinuousBatchRunner,
    jobs: list[Job],
    batch_size: int,
    repeats: int,
) -> dict[str, Any]:
    limits = [limit for _, limit in jobs]
    static_runs, continuous_runs = [], []
    for _ in range(repeats):
        static_runs.append(run_static(static, jobs, batch_size))
        continuous_runs.append(run_continuous(continuous, jobs))
    best_static = min(static_runs, key=lambda run: run.seconds)
    best_continuous = min(continuous_runs, key=lambda run: run.seconds)
    static_summary = _summary(static_runs, len(jobs))
    continuous_summary = _summary(continuous_runs, len(jobs))
    return {
        "max_new_tokens": _span(limits),
        "requested_tokens": sum(limits),
        # What static batching decodes when each batch runs to its longest limit (eos aside).
        "static_token_slots": sum(
            max(limits[i : i + batch_size]) * len(limits[i : i + batch_size])
            for i in range(0, len(limits), batch_size)
        ),
        "static": static_summary,
        "continuous": continuous_summary,
        "speedup_tokens_per_s": round(_rate(best_continuous) / _rate(best_static), 2),
        "speedup_cpu_seconds": round(best_static.cpu_seconds / best_continuous.cpu_seconds, 2),
        # Greedy decoding: an answer cut at its own limit is a prefix of the one run to a larger limit.
        "continuous_answer_is_prefix_of_static": sum(
            s.startswith(c) for s, c in zip(best_static.texts, best_continuous.texts, strict=True)
        ),
    }


def _summary(runs: list[Run], requests: int) -> dict[str, Any]:
    best = min(runs, key=lambda run: run.seconds)
    ordered = sorted(best.latencies)
    return {
        "seconds": round(best.seconds, 2),
        "seconds_all_runs": [round(run.seconds, 2) for run in runs],
        "cpu_seconds": round(best.cpu_seconds, 2),
        "requests_per_s": round(requests / best.seconds, 3),
        "generated_tokens": best.tokens,
        "tokens_per_s": round(best.tokens / best.seconds, 1),
        "latency_s": {
            "mean": round(statistics.fmean(ordered), 2),
            "p50": round(ordered[len(ordered) // 2], 2),
            "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2),
        },
    }


def _warm_up(static: StaticBatchRunner, continuous: ContinuousBatchRunner) -> None:
    """One small run each, so first-call costs (allocations, kernels) stay out of the timings."""
    prompts = [prompt for prompt, _ in workload(2, 4, 4, seed=1)]
    static.generate(prompts, 4)
    continuous.generate(prompts, 4)


def _rate(run: Run) -> float:
    return run.tokens / run.seconds


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _span(values: list[int]) -> str:
    return f"{min(values)}..{max(values)} (mean {statistics.fmean(values):.1f})"


def main(argv: Sequence[str]) -> None:
    model_path = argv[0] if argv else DEFAULT_MODEL_PATH
    print(json.dumps(compare_engines(model_path), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
