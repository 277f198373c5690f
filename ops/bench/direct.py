"""The direct baseline: the same runner and batch policy called in-process — no queue, no store.

Every job is submitted at once, so the engine always has a full queue: this is the most the
model can do with this policy, and the yardstick for the whole path's efficiency.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from core.settings import Settings
from routing.language import LanguageDetector
from routing.table import Profile
from workers.feeders import PromptRequest
from workers.prompts import build_prompt
from workers.runners.base import Runner
from workers.runtime import WARM_UP_PROMPT, close_runner, effective_profile, make_feeder, make_runner


def direct_jobs_per_s(settings: Settings, profile: Profile, texts: Sequence[str], jobs: int) -> float:
    """Jobs per second of the profile's runner behind its feeder (the micro-batcher, or straight
    into the continuous runner), saturated, on `jobs` messages."""
    profile = effective_profile(settings, profile)
    runner, _facts = make_runner(settings, profile)
    runner.generate([WARM_UP_PROMPT], max_new_tokens=1)
    requests = _requests(runner, profile, [texts[i % len(texts)] for i in range(jobs)])
    feeder = make_feeder(runner, profile)
    started = time.perf_counter()
    futures = [feeder.submit(request, tokens) for request, tokens in requests]
    for future in futures:
        future.result()
    elapsed = time.perf_counter() - started
    feeder.close()
    close_runner(runner)
    return jobs / elapsed


def _requests(runner: Runner, profile: Profile, texts: list[str]) -> list[tuple[PromptRequest, int]]:
    detector = LanguageDetector()
    requests = []
    for text in texts:
        language = detector.detect(text).language or "en"
        messages = build_prompt(profile.system_prompt(language), [], text)
        tokens = runner.count_tokens(messages) + profile.max_new_tokens
        requests.append((PromptRequest(messages, profile.max_new_tokens), tokens))
    return requests
