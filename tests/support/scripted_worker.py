"""`babelq worker` with its real runner wrapped so that a fault test can steer it.

Run as `python -m tests.support.scripted_worker worker …` with:
- SCRIPTED_FAIL_FLAG=PATH: while that file exists, every batch raises RuntimeError (a broken
  GPU, say) — the job's input is not at fault;
- SCRIPTED_BATCH_DELAY_S=S: every batch sleeps S seconds before it runs, so that a test can
  act while a batch is in flight.
Each batch prints `batch-start N` and `batch-end N` (N prompts) on stdout.
- SCRIPTED_POISON_TEXT=T: a batch with a prompt containing T raises RuntimeError (a poison input).

The vllm engine has no batches and runs its model in processes of its own: it is left unwrapped
(its faults are real ones: tests kill its engine process).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from core.settings import Settings
from routing.table import Profile
from workers import runtime
from workers.health import ModelFacts
from workers.runners.base import ChatPrompt, Generation, Runner, StreamingRunner, TextListener

_real_make_runner = runtime.make_runner


class ScriptedRunner:
    def __init__(self, runner: Runner, fail_flag: Path | None, delay_s: float, poison: str = "") -> None:
        self._runner = runner
        self._poison = poison
        self.model_name = runner.model_name
        self.device = runner.device
        self._fail_flag = fail_flag
        self._delay_s = delay_s

    def close(self, timeout: float | None = None) -> None:
        runtime.close_runner(self._runner, timeout)

    def count_tokens(self, prompt: ChatPrompt) -> int:
        return self._runner.count_tokens(prompt)

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        max_new_tokens: int,
        listeners: Sequence[TextListener | None] | None = None,
    ) -> list[Generation]:
        print(f"batch-start {len(prompts)}", flush=True)
        try:
            time.sleep(self._delay_s)
            if self._fail_flag is not None and self._fail_flag.exists():
                raise RuntimeError("scripted fault: the device is broken")
            if self._poison and any(self._poison in str(message) for prompt in prompts for message in prompt):
                raise RuntimeError("scripted fault: a poison prompt")
            return self._runner.generate(prompts, max_new_tokens, listeners)
        finally:
            print(f"batch-end {len(prompts)}", flush=True)


def scripted_make_runner(settings: Settings, profile: Profile) -> tuple[Runner, ModelFacts]:
    runner, facts = _real_make_runner(settings, profile)
    flag = os.environ.get("SCRIPTED_FAIL_FLAG")
    delay = float(os.environ.get("SCRIPTED_BATCH_DELAY_S", "0"))
    if isinstance(runner, StreamingRunner):
        assert not (flag or delay), "SCRIPTED_FAIL_FLAG and SCRIPTED_BATCH_DELAY_S need the static engine"
        return runner, facts
    poison = os.environ.get("SCRIPTED_POISON_TEXT", "")
    return ScriptedRunner(runner, Path(flag) if flag else None, delay, poison), facts


if __name__ == "__main__":
    runtime.make_runner = scripted_make_runner
    from ops.cli import main

    main()
