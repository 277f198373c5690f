"""Precision benchmark: weight memory and static-batching throughput per dtype and batch size,
and how far each precision's answers stray from float32's.

    python -m ops.bench.precision [MODEL_PATH] [--out FILE.json] [--answers N]

On CPU it compares float32, bfloat16 and int8 (dynamic quantisation); on CUDA float32, float16,
bfloat16 (and int8 when bitsandbytes is installed). Greedy answers of 32 new tokens to the same
prompts; tokens/s counts generated tokens. `--answers N` answers the first N messages of the
shipped dataset (through the default profile's system prompts, 64 new tokens, repetition penalty
1.2) in every precision and in vLLM at the dtype `auto` picks, and reports for each how many
answers are the same as float32's and how many of their first words agree; the answers are in
the report to read. A benchmark: it reports, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import ModelLoadError
from core.settings import load_settings
from ops.bench.dataset import load_texts
from ops.bench.direct import first_turn_prompts
from routing.table import load_table
from workers.model_loader import footprint_mib, load_model, resolve_device, resolve_dtype
from workers.runners.base import ChatMessage
from workers.runners.static import StaticBatchRunner
from workers.runtime import close_runner
from workers.vllm_options import vllm_installed

DEFAULT_MODEL_PATH = "var/models/SmolLM2-135M-Instruct"
NEW_TOKENS = 32
ANSWER_TOKENS = 64
QUESTIONS = [
    "Where is my parcel? It was due yesterday.",
    "How do I reset my password?",
    "Can I change the delivery address of order 4411?",
    "Do you ship to Norway?",
]


def dtypes_for(device: str) -> list[str]:
    return ["float32", "bfloat16", "int8"] if device == "cpu" else ["float32", "float16", "bfloat16", "int8"]


def measure(model_path: str, dtype: str, batch_sizes: Sequence[int], device: str) -> dict[str, Any]:
    """Footprint and tokens/s at each batch size for one dtype (or why it could not load)."""
    try:
        loaded = load_model(model_path, device=device, dtype=dtype)
    except ModelLoadError as exc:
        return {"dtype": dtype, "error": str(exc)}
    runner = StaticBatchRunner(loaded, repetition_penalty=1.2)
    runner.generate([[{"role": "user", "content": QUESTIONS[0]}]], max_new_tokens=2)  # warm-up
    per_batch = {str(size): _tokens_per_s(runner, size) for size in batch_sizes}
    return {"dtype": dtype, "footprint_mib": round(footprint_mib(loaded.model), 1), "tokens_per_s": per_batch}


def _tokens_per_s(runner: StaticBatchRunner, batch_size: int) -> float:
    prompts = [[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}] for i in range(batch_size)]
    started = time.perf_counter()
    results = runner.generate(prompts, max_new_tokens=NEW_TOKENS)
    return round(sum(r.completion_tokens for r in results) / (time.perf_counter() - started), 1)


def answers_of(model_path: str, dtype: str, prompts: list[list[ChatMessage]], device: str) -> list[str]:
    """Greedy answers of the static engine in `dtype`, in one batch per 8 prompts."""
    runner = StaticBatchRunner(load_model(model_path, device=device, dtype=dtype), repetition_penalty=1.2)
    answers: list[str] = []
    for start in range(0, len(prompts), 8):
        answers += [g.text for g in runner.generate(prompts[start : start + 8], ANSWER_TOKENS)]
    return answers


def vllm_answers(model_path: str, dtype: str, prompts: list[list[ChatMessage]]) -> list[str]:
    """The vllm engine's answers (the shipped settings) to the same prompts, all at once."""
    from workers.runtime import vllm_runner

    profile = replace(load_table().profiles["default"], max_new_tokens=ANSWER_TOKENS)
    runner, _ = vllm_runner(load_settings(), profile, model_path, "cpu", dtype)
    try:
        return [g.text for g in runner.generate(prompts, ANSWER_TOKENS)]
    finally:
        close_runner(runner)


def agreement(reference: list[str], answers: list[str]) -> dict[str, Any]:
    """How many answers equal the reference's, and the mean share of leading words they share."""
    shared = [_leading_words(a, b) for a, b in zip(reference, answers, strict=True)]
    same = sum(a == b for a, b in zip(reference, answers, strict=True))
    return {
        "same_answers": same,
        "of": len(answers),
        "leading_words_shared": round(sum(shared) / len(shared), 2),
    }


def _leading_words(a: str, b: str) -> float:
    words_a, words_b = a.split(), b.split()
    common = next(
        (i for i, (x, y) in enumerate(zip(words_a, words_b, strict=False)) if x != y),
        min(len(words_a), len(words_b)),
    )
    return common / max(len(words_a), len(words_b), 1)


def compare_answers(model_path: str, count: int, device: str) -> dict[str, Any]:
    """Every precision's (and vLLM's) answers next to float32's, on the shipped dataset."""
    profile = load_table().profiles["default"]
    texts = load_texts(None)[:count]
    prompts = first_turn_prompts(profile, texts)
    reference = answers_of(model_path, "float32", prompts, device)
    report: dict[str, Any] = {"texts": texts, "float32": reference}
    for dtype in [d for d in dtypes_for(device) if d != "float32"]:
        report[dtype] = answers_of(model_path, dtype, prompts, device)
        report[f"{dtype}_agreement"] = agreement(reference, report[dtype])
    if vllm_installed() and device == "cpu":
        dtype = resolve_dtype("auto", device)
        report[f"vllm_{dtype}"] = vllm_answers(model_path, dtype, prompts)
        report[f"vllm_{dtype}_agreement"] = agreement(reference, report[f"vllm_{dtype}"])
    return report


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL_PATH)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--out", type=Path, default=Path("precision_bench.json"))
    parser.add_argument("--answers", type=int, default=0, help="compare answers on N dataset messages")
    args = parser.parse_args(argv)
    device = resolve_device("auto")
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    report: dict[str, Any] = {"model": args.model, "device": device, "new_tokens": NEW_TOKENS}
    if args.answers:
        report["answers"] = compare_answers(args.model, args.answers, device)
    else:
        report["runs"] = [measure(args.model, dtype, sizes, device) for dtype in dtypes_for(device)]
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(
        json.dumps(
            {k: v for k, v in report.get("answers", report).items() if "agreement" in k or k == "runs"},
            indent=2,
        )
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
