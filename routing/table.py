"""The routing table: language → queue → model profile, loaded from one YAML file and validated."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from core.data_files import numbered, problems
from core.errors import ConfigurationError
from routing.language_names import language_name
from routing.table_spec import ANY, SPEC_MODELS, Dtype, Engine, ProfileSpec, TableSpec, UnansweredAction

DEFAULT_TABLE_RESOURCE = "default_routes.yaml"


@dataclass(frozen=True)
class Profile:
    """How one group of queues is served: which model, and the batch policy it runs with."""

    name: str
    model: str
    dtype: Dtype
    max_batch_size: int
    max_wait_ms: float
    max_new_tokens: int
    max_batch_tokens: int
    system_prompts: Mapping[str, str]
    repetition_penalty: float = 1.0
    engine: Engine = "auto"
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


@dataclass(frozen=True)
class Unanswered:
    """What happens to a job in a language its profile's model does not answer well: answered
    in the channel's default language after a line in the customer's own, or handed to people
    on `human_queue` (no worker consumes it)."""

    action: UnansweredAction = "default_language"
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
    """Check a table's data (routing.table_spec) and build it: every problem found is named, at
    its key's path, in one ConfigurationError."""
    if not isinstance(data, dict):
        raise ConfigurationError("routing table: the top level must be a mapping")
    try:
        spec = TableSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(numbered("routing table", problems(exc, SPEC_MODELS))) from exc
    table = RoutingTable(
        languages=frozenset(spec.languages),
        fallback_queue=spec.fallback_queue,
        dead_letter_queue=spec.dead_letter_queue,
        queue_languages={queue: tuple(q.languages) for queue, q in spec.queues.items()},
        queue_profiles={queue: q.profile for queue, q in spec.queues.items()},
        profiles={name: _profile(name, p) for name, p in spec.profiles.items()},
        channel_defaults={ANY: "en", **spec.channels},
        channel_deadlines=dict(spec.deadlines),
        unanswered=Unanswered(spec.unanswered.action, spec.unanswered.human_queue),
    )
    _check_defaults_answered(table)
    return table


def _profile(name: str, spec: ProfileSpec) -> Profile:
    return Profile(
        name=name,
        model=spec.model,
        dtype=spec.dtype,
        max_batch_size=spec.max_batch_size,
        max_wait_ms=spec.max_wait_ms,
        max_new_tokens=spec.max_new_tokens,
        max_batch_tokens=spec.max_batch_tokens,
        system_prompts=dict(spec.system_prompts),
        repetition_penalty=spec.repetition_penalty,
        engine=spec.engine,
        answers_in=frozenset(spec.answers_in),
    )


def _check_defaults_answered(table: RoutingTable) -> None:
    """A channel's default language is what other languages fall back to: its model must answer it."""
    for channel, language in table.channel_defaults.items():
        profile = table.profiles[table.route(language).profile]
        if not profile.answers(language):
            raise ConfigurationError(
                f"routing table: channels.{channel} is {language!r}, which profile {profile.name!r} "
                f"does not answer (answers_in: {sorted(profile.answers_in)})"
            )
