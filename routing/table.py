"""The routing table: language → queue → model profile, loaded from one YAML file and validated."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from core.errors import ConfigurationError
from core.jobs import MAX_DEADLINE_S
from routing.language_names import language_name

DEFAULT_TABLE_RESOURCE = "default_routes.yaml"
ANY = "*"
_QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Profile:
    """How one group of queues is served: which model, and the batch policy it runs with."""

    name: str
    model: str
    dtype: str
    max_batch_size: int
    max_wait_ms: float
    max_new_tokens: int
    max_batch_tokens: int
    system_prompts: Mapping[str, str]
    repetition_penalty: float = 1.0
    engine: str = "auto"
    answers_in: frozenset[str] = frozenset()
    """The languages this profile's model answers well; empty: every language."""

    def answers(self, language: str) -> bool:
        return not self.answers_in or language in self.answers_in

    def answer_version(self, model_id: str, max_new_tokens_cap: int) -> str:
        """A short hash of what shapes this profile's answers (model, precision, prompts, answer
        length, repetition penalty): cached answers are keyed by it, so changing any of them
        makes the old entries unreachable."""
        shape = [
            model_id,
            self.dtype,
            sorted(self.system_prompts.items()),
            min(self.max_new_tokens, max_new_tokens_cap),
            self.repetition_penalty,
        ]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:12]

    def system_prompt(self, language: str) -> str:
        """The system prompt for a language: its own, else the generic one naming the language."""
        template = self.system_prompts.get(language) or self.system_prompts[ANY]
        return template.replace("{language_name}", language_name(language))


@dataclass(frozen=True)
class Route:
    """Where one message goes."""

    language: str
    queue: str
    profile: str


HandlingKind = Literal["model", "default_language", "human"]
UNANSWERED_ACTIONS: tuple[HandlingKind, ...] = ("default_language", "human")


@dataclass(frozen=True)
class Unanswered:
    """What happens to a job in a language its profile's model does not answer well: answered
    in the channel's default language after a line in the customer's own, or handed to people
    on `human_queue` (no worker consumes it)."""

    action: HandlingKind = "default_language"
    human_queue: str = "chat.human"


@dataclass(frozen=True)
class Handling:
    """How one message is answered: by the model in its language, by the model in the channel's
    default language (`answer_language`), or by people; and on which queue."""

    kind: HandlingKind
    language: str
    answer_language: str
    queue: str
    profile: str


@dataclass(frozen=True)
class RoutingTable:
    """The effective routing table of a deployment."""

    languages: frozenset[str]
    fallback_queue: str
    dead_letter_queue: str
    queue_languages: Mapping[str, tuple[str, ...]]
    queue_profiles: Mapping[str, str]
    profiles: Mapping[str, Profile]
    channel_defaults: Mapping[str, str] = field(default_factory=dict)
    channel_deadlines: Mapping[str, float] = field(default_factory=dict)
    unanswered: Unanswered = field(default_factory=Unanswered)

    def route(self, language: str) -> Route:
        """The queue for a language; unsupported or unmapped languages go to the fallback."""
        queue = self._language_queue().get(language, self.fallback_queue)
        if language not in self.languages:
            queue = self.fallback_queue
        return Route(language=language, queue=queue, profile=self.queue_profiles[queue])

    def handling(self, language: str, channel: str) -> Handling:
        """How a message in `language` on `channel` is answered (see Unanswered). A job answered
        in the default language goes to that language's queue, whose model answers it."""
        route = self.route(language)
        if self.profiles[route.profile].answers(language):
            return Handling("model", language, language, route.queue, route.profile)
        if self.unanswered.action == "human":
            return Handling("human", language, language, self.unanswered.human_queue, route.profile)
        fallback = self.route(self.channel_default(channel))
        return Handling("default_language", language, fallback.language, fallback.queue, fallback.profile)

    def channel_default(self, channel: str) -> str:
        return self.channel_defaults.get(channel) or self.channel_defaults[ANY]

    def deadline_s(self, channel: str) -> float | None:
        """The table's deadline for a channel's jobs (its own, else "*"), None when it sets none."""
        return self.channel_deadlines.get(channel, self.channel_deadlines.get(ANY))

    @property
    def queue_names(self) -> list[str]:
        return list(self.queue_profiles)

    def queues_of_profile(self, profile: str) -> list[str]:
        """The queues a profile serves; [] for "" (no profile asked for)."""
        if not profile:
            return []
        if profile not in self.profiles:
            raise ConfigurationError(f"unknown profile {profile!r}; the table has {sorted(self.profiles)}")
        return [queue for queue, name in self.queue_profiles.items() if name == profile]

    def profile_for_queue(self, queue: str) -> Profile:
        return self.profiles[self.queue_profiles[queue]]

    def _language_queue(self) -> dict[str, str]:
        return {lang: q for q, langs in self.queue_languages.items() for lang in langs}

    def describe(self) -> dict[str, Any]:
        """A plain view of the table for `babelq routes`."""
        mapped = self._language_queue()
        return {
            "fallback_queue": self.fallback_queue,
            "dead_letter_queue": self.dead_letter_queue,
            "languages": {lang: mapped.get(lang, self.fallback_queue) for lang in sorted(self.languages)},
            "queues": {
                q: {"profile": p, "languages": list(self.queue_languages[q])}
                for q, p in self.queue_profiles.items()
            },
            "profiles": {name: _profile_view(p) for name, p in self.profiles.items()},
            "channels": dict(self.channel_defaults),
            "deadlines": dict(self.channel_deadlines),
            "unanswered": {"action": self.unanswered.action, "human_queue": self.unanswered.human_queue},
        }


def _profile_view(profile: Profile) -> dict[str, Any]:
    return {
        "model": profile.model or "(default)",
        "dtype": profile.dtype,
        "max_batch_size": profile.max_batch_size,
        "max_wait_ms": profile.max_wait_ms,
        "max_new_tokens": profile.max_new_tokens,
        "max_batch_tokens": profile.max_batch_tokens,
        "repetition_penalty": profile.repetition_penalty,
        "engine": profile.engine,
        "answers_in": sorted(profile.answers_in) or "every language",
        "system_prompt_languages": sorted(profile.system_prompts),
    }


def load_table(path: Path | None = None) -> RoutingTable:
    """Load the table from a YAML file (the packaged default when path is None)."""
    return table_from_dict(read_table_data(path))


def read_table_data(path: Path | None = None) -> Any:
    """The table's YAML as plain data, not yet checked (the packaged default when path is None)."""
    try:
        text = (
            path.read_text(encoding="utf-8")
            if path
            else resources.files("routing").joinpath(DEFAULT_TABLE_RESOURCE).read_text("utf-8")
        )
        return yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read routing table {path}: {exc}") from exc


def table_from_dict(data: Any) -> RoutingTable:
    """Build and validate a table; every problem is a ConfigurationError naming the field."""
    if not isinstance(data, dict):
        raise ConfigurationError("routing table: top level must be a mapping")
    profiles = {name: _profile(name, spec) for name, spec in _mapping(data, "profiles").items()}
    queues = _mapping(data, "queues")
    queue_profiles = {q: _queue_profile(q, spec, profiles) for q, spec in queues.items()}
    queue_languages = {
        q: _languages(spec.get("languages") or [], f"queues.{q}.languages") for q, spec in queues.items()
    }
    _check_languages_unique(queue_languages)
    fallback = _queue_name(data.get("fallback_queue", "chat.default"), "fallback_queue")
    if fallback not in queue_profiles:
        raise ConfigurationError(f"routing table: fallback_queue {fallback!r} is not in queues")
    channels = {str(k): _one_language(v, f"channels.{k}") for k, v in (data.get("channels") or {}).items()}
    channels.setdefault(ANY, "en")
    deadlines = {
        str(k): _deadline(v, f"deadlines.{k}") for k, v in _optional_mapping(data, "deadlines").items()
    }
    dead_letter = _queue_name(data.get("dead_letter_queue", "chat.dead"), "dead_letter_queue")
    unanswered = _unanswered(_optional_mapping(data, "unanswered"), [*queue_profiles, dead_letter])
    table = RoutingTable(
        unanswered=unanswered,
        languages=frozenset(_languages(data.get("languages") or [], "languages")),
        fallback_queue=fallback,
        dead_letter_queue=dead_letter,
        queue_languages=queue_languages,
        queue_profiles=queue_profiles,
        profiles=profiles,
        channel_defaults=channels,
        channel_deadlines=deadlines,
    )
    _check_defaults_answered(table)
    return table


def _check_defaults_answered(table: RoutingTable) -> None:
    """A channel's default language is what other languages fall back to: its model must answer it."""
    for channel, language in table.channel_defaults.items():
        profile = table.profiles[table.route(language).profile]
        if not profile.answers(language):
            raise ConfigurationError(
                f"routing table: channels.{channel} is {language!r}, which profile {profile.name!r} "
                f"does not answer (answers_in: {sorted(profile.answers_in)})"
            )


def _unanswered(spec: dict[str, Any], queues: Collection[str]) -> Unanswered:
    action = spec.get("action", "default_language")
    if action not in UNANSWERED_ACTIONS:
        raise ConfigurationError(
            f"routing table: unanswered.action must be one of {UNANSWERED_ACTIONS}, got {action!r}"
        )
    queue = _queue_name(spec.get("human_queue", "chat.human"), "unanswered.human_queue")
    if queue in queues:  # workers consume every chat queue, and dead letters are no one's to answer
        raise ConfigurationError(
            f"routing table: unanswered.human_queue {queue!r} must be neither a chat queue nor the "
            "dead-letter queue"
        )
    return Unanswered(action, queue)


def _optional_mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigurationError(f"routing table: {key} must be a mapping")
    return value


def _deadline(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_DEADLINE_S:
        raise ConfigurationError(f"routing table: {where} must be seconds, > 0 and at most {MAX_DEADLINE_S}")
    return float(value)


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict) or not value:
        raise ConfigurationError(f"routing table: {key} must be a non-empty mapping")
    return value


def _queue_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _QUEUE_NAME.match(name):
        raise ConfigurationError(f"routing table: {where}: bad queue name {name!r}")
    return name


def _queue_profile(queue: str, spec: Any, profiles: Mapping[str, Profile]) -> str:
    _queue_name(queue, "queues")
    if not isinstance(spec, dict):
        raise ConfigurationError(f"routing table: queues.{queue} must be a mapping")
    profile = spec.get("profile", "default")
    if profile not in profiles:
        raise ConfigurationError(f"routing table: queues.{queue}.profile {profile!r} is not defined")
    return str(profile)


def _one_language(code: Any, where: str) -> str:
    from routing.language_codes import normalize_language_code

    try:
        return normalize_language_code(str(code))
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(f"routing table: {where}: {exc}") from exc


def _languages(codes: Any, where: str) -> tuple[str, ...]:
    if not isinstance(codes, list):
        raise ConfigurationError(f"routing table: {where} must be a list of language codes")
    return tuple(_one_language(code, where) for code in codes)


def _check_languages_unique(queue_languages: Mapping[str, tuple[str, ...]]) -> None:
    seen: dict[str, str] = {}
    for queue, langs in queue_languages.items():
        for lang in langs:
            if lang in seen:
                raise ConfigurationError(
                    f"routing table: language {lang!r} is mapped to both {seen[lang]} and {queue}"
                )
            seen[lang] = queue


def _profile(name: str, spec: Any) -> Profile:
    if not isinstance(spec, dict):
        raise ConfigurationError(f"routing table: profiles.{name} must be a mapping")
    prompts = spec.get("system_prompts") or {}
    if ANY not in prompts:
        raise ConfigurationError(f'routing table: profiles.{name}.system_prompts needs a "*" entry')
    return Profile(
        name=name,
        model=str(spec.get("model") or ""),
        dtype=str(spec.get("dtype", "auto")),
        max_batch_size=_positive(spec, "max_batch_size", 8, name),
        max_wait_ms=float(_positive(spec, "max_wait_ms", 20, name)),
        max_new_tokens=_positive(spec, "max_new_tokens", 64, name),
        max_batch_tokens=_positive(spec, "max_batch_tokens", 8192, name),
        system_prompts={str(k): str(v) for k, v in prompts.items()},
        repetition_penalty=_penalty(spec.get("repetition_penalty", 1.0), name),
        engine=_engine(spec.get("engine", "auto"), name),
        answers_in=frozenset(_languages(spec.get("answers_in") or [], f"profiles.{name}.answers_in")),
    )


ENGINES = ("auto", "static", "vllm")


def _engine(value: Any, profile: str) -> str:
    if value not in ENGINES:
        raise ConfigurationError(
            f"routing table: profiles.{profile}.engine must be one of {ENGINES}, got {value!r}"
        )
    return str(value)


def _penalty(value: Any, profile: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1.0 <= value <= 2.0:
        raise ConfigurationError(
            f"routing table: profiles.{profile}.repetition_penalty must be in [1, 2], got {value!r}"
        )
    return float(value)


def _positive(spec: dict[str, Any], key: str, default: int, profile: str) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"routing table: profiles.{profile}.{key} must be > 0, got {value!r}")
    return int(value)
