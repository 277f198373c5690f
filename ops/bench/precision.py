"""Precision benchmark: weight memory and static-batching throughput per dtype and batch size.

    python -m ops.bench.precision [MODEL_PATH] [--out FILE.json]

On CPU it compares float32, bfloat16 and int8 (dynamic quantisation); on CUDA float32, float16,
bfloat16 (and int8 when bitsandbytes is installed). Greedy answers of 32 new tokens to the same
prompts; tokens/s counts generated tokens. A benchmark: it reports, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import ModelLoadError
from ops.bench.engines import DEFAULT_MODEL_PATH
from workers.model_loader import footprint_mib, load_model, resolve_device
from workers.runners.static import StaticBatchRunner

NEW_TOKENS = 32
QUESTIONS = ["Where is my parcel? It was due yesterday.", "How do I reset my password?",
             "Can I change the delivery address of order 4411?", "Do you ship to Norway?"]  # fmt: skip


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


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL_PATH)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--out", type=Path, default=Path("precision_bench.json"))
    args = parser.parse_args(argv)
    device = resolve_device("auto")
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    runs = [measure(args.model, dtype, sizes, device) for dtype in dtypes_for(device)]
    report = {"model": args.model, "device": device, "new_tokens": NEW_TOKENS, "runs": runs}
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
