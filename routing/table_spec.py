"""The routing table's file, as strict pydantic models: an unknown key, a value of the wrong type
(2.5 where a whole number goes, `no` unquoted where a language code goes) or a name that
refers to nothing is a problem at its key's path, never a silent default. routing.table turns
a checked file into the RoutingTable the processes use."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from core.errors import InvalidInput
from core.jobs import MAX_DEADLINE_S
from routing.language_codes import normalize_language_code
from routing.language_names import LANGUAGE_NAMES

ANY = "*"
Dtype = Literal["auto", "float32", "float16", "bfloat16", "int8"]
Engine = Literal["auto", "static", "vllm"]
UnansweredAction = Literal["default_language", "human"]
_QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _language(code: str) -> str:
    try:
        folded = normalize_language_code(code)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from exc
    if folded not in LANGUAGE_NAMES:
        raise ValueError(f"unknown language code {code!r}")
    return folded


def _queue(name: str) -> str:
    if not _QUEUE_NAME.match(name):
        raise ValueError(f"bad queue name {name!r}: lowercase letters, digits, '.', '_' and '-', at most 64")
    return name


class _Spec(BaseModel):
    """A part of the file: strict, and a key written with no value (`languages:`) is as if left
    out (YAML reads it as null), so it takes its default."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_keys_left_out(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


Language = Annotated[str, AfterValidator(_language)]
QueueName = Annotated[str, AfterValidator(_queue)]
Positive = Annotated[int, Field(gt=0)]


class ProfileSpec(_Spec):
    """`profiles.NAME`: the model a group of queues runs and its batch policy."""

    model: str = ""
    dtype: Dtype = "auto"
    engine: Engine = "auto"
    max_batch_size: Positive = 8
    max_wait_ms: Annotated[float, Field(gt=0)] = 20.0
    max_new_tokens: Positive = 64
    max_batch_tokens: Positive = 8192
    repetition_penalty: Annotated[float, Field(ge=1.0, le=2.0)] = 1.0
    answers_in: list[Language] = []
    system_prompts: dict[str, str]

    @model_validator(mode="after")
    def _generic_prompt(self) -> ProfileSpec:
        if ANY not in self.system_prompts:
            raise ValueError('system_prompts needs a "*" entry (the prompt of every other language)')
        return self


class QueueSpec(_Spec):
    """`queues.NAME`: the languages routed to a queue and the profile that serves it."""

    languages: list[Language] = []
    profile: str = "default"


class UnansweredSpec(_Spec):
    """`unanswered`: what happens to a language its profile's model does not answer."""

    action: UnansweredAction = "default_language"
    human_queue: QueueName = "chat.human"


class TableSpec(_Spec):
    """The whole file."""

    languages: list[Language] = []
    fallback_queue: QueueName = "chat.default"
    dead_letter_queue: QueueName = "chat.dead"
    channels: dict[str, Language] = {}
    deadlines: dict[str, Annotated[float, Field(gt=0, le=MAX_DEADLINE_S)]] = {}
    queues: Annotated[dict[QueueName, QueueSpec], Field(min_length=1)]
    profiles: Annotated[dict[str, ProfileSpec], Field(min_length=1)]
    unanswered: UnansweredSpec = UnansweredSpec()

    @model_validator(mode="after")
    def _references(self) -> TableSpec:
        """Every name that refers to another part of the file, checked all at once."""
        problems = [*self._unknown_profiles(), *self._languages_mapped_twice(), *self._queue_roles()]
        if problems:
            raise ValueError("\n".join(problems))  # one line each (core.data_files.problems)
        return self

    def _unknown_profiles(self) -> list[str]:
        return [
            f"queues.{queue}.profile: {spec.profile!r} is not one of profiles {sorted(self.profiles)}"
            for queue, spec in self.queues.items()
            if spec.profile not in self.profiles
        ]

    def _languages_mapped_twice(self) -> list[str]:
        seen: dict[str, str] = {}
        twice = []
        for queue, spec in self.queues.items():
            for language in spec.languages:
                if language in seen:
                    twice.append(f"queues.{queue}.languages: {language!r} is mapped to {seen[language]} too")
                seen.setdefault(language, queue)
        return twice

    def _queue_roles(self) -> list[str]:
        problems = []
        if self.fallback_queue not in self.queues:
            problems.append(f"fallback_queue: {self.fallback_queue!r} is not in queues")
        # workers consume every chat queue, and dead letters are no one's to answer
        if self.unanswered.human_queue in (*self.queues, self.dead_letter_queue):
            problems.append(
                f"unanswered.human_queue: {self.unanswered.human_queue!r} must be neither a chat queue "
                "nor the dead-letter queue"
            )
        return problems


SPEC_MODELS = (TableSpec, ProfileSpec, QueueSpec, UnansweredSpec)
