"""What vLLM's prefix caching buys a conversation's follow-ups: the same 5-turn conversations
answered with it on and off, time to answer per turn.

Each turn's prompt is the system prompt, the earlier turns (with the model's own answers) and the
new message, as a worker builds it; with prefix caching the KV blocks of what the previous turn's
prompt and answer already computed are reused. `--conversations` run side by side, turn by turn.

    python -m ops.bench.followups [--conversations 8] [--turns 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.settings import load_settings
from ops.bench.dataset import load_texts
from routing.table import load_table
from workers.model_loader import resolve_dtype
from workers.runners.base import ChatMessage, Generation, StreamingRunner
from workers.runtime import resolve_model, vllm_options
from workers.vllm_options import prepare_environment

FOLLOW_UPS = (
    "Thanks. And how long will it take?",
    "Can I change the address?",
    "What does it cost?",
    "OK, please go ahead.",
)


def conversations(count: int, turns: int) -> list[list[str]]:
    """`count` conversations: a first message from the dataset, then follow-ups."""
    texts = load_texts(None)
    return [[texts[i % len(texts)], *FOLLOW_UPS[: turns - 1]] for i in range(count)]


def run(
    runner: StreamingRunner, system: str, chats: list[list[str]], max_new_tokens: int
) -> list[list[float]]:
    """Seconds to answer each turn of each conversation (turn by turn, conversations together)."""
    histories: list[list[ChatMessage]] = [[{"role": "system", "content": system}] for _ in chats]
    seconds: list[list[float]] = [[] for _ in chats]
    for turn in range(len(chats[0])):
        started = time.perf_counter()
        futures: list[Future[Generation]] = []
        for history, chat in zip(histories, chats, strict=True):
            history.append({"role": "user", "content": chat[turn]})
            futures.append(runner.submit_tokens(runner.encode(history), max_new_tokens))
        for index, (history, future) in enumerate(zip(histories, futures, strict=True)):
            history.append({"role": "assistant", "content": future.result().text})
            seconds[index].append(time.perf_counter() - started)
    return seconds


def measure(caching: bool, args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings()
    profile = load_table().profiles["default"]
    model = resolve_model(settings, profile)
    options = replace(
        vllm_options(settings, profile, model, "cpu", resolve_dtype("auto", "cpu")), prefix_caching=caching
    )
    from workers.runners.vllm_engine import VllmRunner  # after prepare_environment

    runner = VllmRunner(options)
    try:
        runner.generate([[{"role": "user", "content": "warm-up"}]], 2)
        chats = conversations(args.conversations, args.turns)
        per_turn = list(
            zip(*run(runner, profile.system_prompt("en"), chats, args.max_new_tokens), strict=True)
        )
        stats = runner.stats.snapshot()
    finally:
        runner.close()
    return {
        "prefix_caching": caching,
        "mean_s_per_turn": [round(statistics.fmean(t), 3) for t in per_turn],
        "prefix_cache_hit_rate": round(stats.prefix_cache_hits / max(stats.prefix_cache_queries, 1), 3),
        "prompt_tokens_computed": stats.prompt_tokens,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.followups")
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("var/followups.json"))
    args = parser.parse_args(argv)
    prepare_environment()
    result = {"on": measure(True, args), "off": measure(False, args)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
