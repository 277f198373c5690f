"""Everything one worker process holds: its model, runner, batcher and responder.

Built after the worker process starts (never at import, never before a fork), once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ops.errors import ConfigurationError
from ops.settings import Settings
from persistence.db import SessionFactory
from routing.table import Profile, RoutingTable
from workers.batcher import Batcher, BatchPolicy
from workers.feeders import ContinuousFeeder, Feeder, PromptRequest
from workers.responder import Responder
from workers.runners.base import Generation, Runner

log = logging.getLogger(__name__)
WARM_UP_PROMPT = [{"role": "system", "content": "warm-up"}, {"role": "user", "content": "hello"}]


@dataclass
class WorkerRuntime:
    """The per-process state a worker's tasks share."""

    profile: Profile
    runner: Runner
    feeder: Feeder
    responder: Responder

    @property
    def batcher(self) -> Batcher[PromptRequest, Generation] | None:
        """The micro-batcher, when this worker runs the static engine (None for continuous)."""
        return self.feeder if isinstance(self.feeder, Batcher) else None

    def close(self) -> None:
        self.feeder.close(timeout=30)


def profile_for_queues(table: RoutingTable, queues: Sequence[str]) -> Profile:
    """The one profile a worker serves; queues of different profiles need different workers."""
    unknown = [q for q in queues if q not in table.queue_profiles]
    if unknown:
        raise ConfigurationError(f"unknown queues {unknown}; the table has {table.queue_names}")
    names = {table.queue_profiles[q] for q in queues}
    if len(names) != 1:
        raise ConfigurationError(
            f"queues {list(queues)} use profiles {sorted(names)}; start one worker per profile"
        )
    return table.profiles[names.pop()]


def resolve_model(settings: Settings, profile: Profile) -> str:
    """The model a profile runs: its own, else BABELQ_MODEL, else the prepared default."""
    from workers.default_model import is_prepared, prepared_model_dir

    if profile.model:
        return profile.model
    if settings.model:
        return settings.model
    if not is_prepared(settings.models_dir):
        raise ConfigurationError(
            f"the default model is not prepared in {settings.models_dir}: run `babelq model prepare`"
        )
    return str(prepared_model_dir(settings.models_dir))


def make_runner(settings: Settings, profile: Profile) -> Runner:
    if settings.runner == "null":
        from workers.runners.null import NullRunner

        return NullRunner()
    from workers.model_loader import load_model

    loaded = load_model(resolve_model(settings, profile), device=settings.device, dtype=profile.dtype)
    log.info(
        "loaded model %s on %s (%s), engine %s", loaded.name, loaded.device, loaded.dtype, profile.engine
    )
    if profile.engine == "continuous":
        from workers.runners.continuous import ContinuousBatchRunner

        return ContinuousBatchRunner(
            loaded, profile.repetition_penalty, max_batch_tokens=None, max_batch_size=profile.max_batch_size
        )
    from workers.runners.static import StaticBatchRunner

    return StaticBatchRunner(loaded, repetition_penalty=profile.repetition_penalty)


def build_runtime(settings: Settings, profile: Profile, factory: SessionFactory) -> WorkerRuntime:
    """Load the model, warm it up, and start the batcher loop."""
    runner = make_runner(settings, profile)
    runner.generate([WARM_UP_PROMPT], max_new_tokens=1)
    feeder = make_feeder(runner, profile)
    effective = effective_profile(settings, profile)
    responder = Responder(
        factory, feeder, effective, runner.model_name, runner.count_tokens,
        history_turns=settings.history_turns, timeout_s=settings.job_timeout_s,
    )  # fmt: skip
    return WorkerRuntime(effective, runner, feeder, responder)


def make_feeder(runner: Runner, profile: Profile) -> Feeder:
    """Continuous runners take jobs one by one; every other runner goes behind the micro-batcher."""
    if profile.engine == "continuous":
        from workers.runners.continuous import ContinuousBatchRunner

        if isinstance(runner, ContinuousBatchRunner):
            return ContinuousFeeder(runner)
    policy = BatchPolicy(profile.max_batch_size, profile.max_wait_ms, profile.max_batch_tokens)
    batcher: Batcher[PromptRequest, Generation] = Batcher(policy, lambda reqs: run_requests(runner, reqs))
    batcher.start()
    return batcher


def effective_profile(settings: Settings, profile: Profile) -> Profile:
    """The profile with BABELQ_MAX_NEW_TOKENS applied as a cap."""
    return replace(profile, max_new_tokens=min(profile.max_new_tokens, settings.max_new_tokens))


def run_requests(runner: Runner, requests: list[PromptRequest]) -> list[Generation]:
    """Run one batch; prompts of one batch share the largest max_new_tokens among them."""
    max_new = max(r.max_new_tokens for r in requests)
    return runner.generate([r.messages for r in requests], max_new_tokens=max_new)
