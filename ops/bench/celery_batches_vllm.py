"""The baseline a user who knows the field writes in an afternoon: one Celery worker (solo pool)
with celery-batches, vLLM's offline `LLM` built in the worker process, and one `LLM.generate`
call on each flushed batch (32 jobs or 50 ms), results in Redis. No store, no history, no
per-job retries, no deadlines: only the model behind a queue.

celery-batches 0.11 declares celery<5.7; it runs on babelq's celery 5.7 as far as this baseline
uses it (a task, its flushed requests, mark_as_done). It is not one of babelq's dependencies:
`pip install --no-deps --target var/celery-batches celery-batches==0.11` and put that folder on
PYTHONPATH for the worker (ops/bench/versus.py does both).

    python -m celery -A ops.bench.celery_batches_vllm worker --pool solo -Q baseline   # env below

Environment: BASELINE_BROKER (redis URL, also the result backend), BASELINE_MODEL (folder),
BASELINE_DTYPE, BASELINE_MAX_NEW_TOKENS, BASELINE_REPETITION_PENALTY, BASELINE_KV_CACHE_GIB.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals
from celery_batches import Batches, SimpleRequest

from workers.vllm_options import prepare_environment

QUEUE = "baseline"
app = Celery("baseline", broker=os.environ.get("BASELINE_BROKER"), backend=os.environ.get("BASELINE_BROKER"))
app.conf.update(task_default_queue=QUEUE, worker_prefetch_multiplier=0, result_expires=3600)
_engine: dict[str, Any] = {}


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _start_engine(**_: object) -> None:
    """vLLM's engine, started once in the worker process before the first batch."""
    prepare_environment()
    from vllm import LLM, SamplingParams

    from workers.model_loader import eos_ids_of, load_tokenizer

    model = os.environ["BASELINE_MODEL"]
    _engine["llm"] = LLM(
        model=model,
        dtype=os.environ.get("BASELINE_DTYPE", "bfloat16"),  # type: ignore[arg-type]
        kv_cache_memory_bytes=int(float(os.environ.get("BASELINE_KV_CACHE_GIB", "1")) * 1024**3),
        max_model_len=4096,
        enforce_eager=True,
        seed=0,
    )
    _engine["params"] = SamplingParams(
        temperature=0.0,
        max_tokens=int(os.environ.get("BASELINE_MAX_NEW_TOKENS", "32")),
        repetition_penalty=float(os.environ.get("BASELINE_REPETITION_PENALTY", "1.2")),
        stop_token_ids=sorted(eos_ids_of(model, load_tokenizer(model))),
    )
    print("baseline worker: engine ready", flush=True)


@app.task(base=Batches, flush_every=32, flush_interval=0.05)  # type: ignore[untyped-decorator]
def chat(requests: list[SimpleRequest]) -> None:
    """One `LLM.generate` per flushed batch; each job's answer text is its result."""
    prompts = [{"prompt_token_ids": request.args[0]} for request in requests]
    outputs = _engine["llm"].generate(prompts, _engine["params"], use_tqdm=False)
    for request, output in zip(requests, outputs, strict=True):
        app.backend.mark_as_done(request.id, output.outputs[0].text, request=request)
