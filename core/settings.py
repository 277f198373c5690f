"""The one Settings object, read from BABELQ_* environment variables and validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigurationError
from core.jobs import DEFAULT_MAX_TEXT_CHARS, MAX_DEADLINE_S, TEXT_CHARS_CEILING

EMBEDDED_BROKER_URL = "memory://"
# The mark of compose/.env.example's placeholder secrets: production refuses to run with one.
PLACEHOLDER = "change-me"
SECRET_BEARING = ("secret_key", "broker_url", "database_url", "redis_url", "flower_basic_auth")
RunnerKind = Literal["transformers", "null"]


class Settings(BaseSettings):
    """Everything babelq reads from its environment; build it once with `load_settings`."""

    model_config = SettingsConfigDict(env_prefix="BABELQ_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = "development"
    var_dir: Path = Path("var")
    broker_url: str = EMBEDDED_BROKER_URL
    database_url: str = ""
    redis_url: str = ""
    routes_file: Path | None = None
    channels_file: Path | None = None
    # API keys on every route but health and metrics; unset: required in production only.
    require_api_keys: bool | None = None
    # Keys derived conversation ids and visitor sessions (core.deployment_key); production must set it.
    secret_key: SecretStr = SecretStr("")
    # The web page's channel: POST /v1/sessions gives its visitors sessions of this long.
    web_channel: str = Field(default="web", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    visitor_session_ttl_s: float = Field(default=3600.0, ge=60, le=7 * 86400)

    model: str = ""
    model_cache_dir: Path | None = None
    runner: RunnerKind = "transformers"
    device: str = "auto"
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    history_turns: int = Field(default=20, ge=0, le=200)
    history_tokens: int = Field(default=1024, ge=0, le=1_000_000)
    # engine vllm: the longest prompt + answer one request may take (0: the model's own limit, at
    # most 4096), the KV cache's size on a CPU (GiB of host memory) and the share of GPU memory
    # vLLM may take on a GPU (weights and KV cache).
    vllm_max_model_len: int = Field(default=0, ge=0, le=1_048_576)
    vllm_kv_cache_gib: float = Field(default=1.0, gt=0, le=4096)
    vllm_gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    # eager: no torch.compile and no CUDA graphs (start-up in seconds, not a minute; see docs/engines.md)
    vllm_enforce_eager: bool = True

    max_text_chars: int = Field(default=DEFAULT_MAX_TEXT_CHARS, ge=1, le=TEXT_CHARS_CEILING)
    max_wait_s: float = Field(default=60.0, gt=0, le=600)
    # Connections held open (event streams, `?wait=`): one API process's cap, and one caller's.
    max_streams: int = Field(default=2000, ge=1, le=1_000_000)
    max_streams_per_caller: int = Field(default=100, ge=1, le=1_000_000)
    job_deadline_s: float = Field(default=900.0, gt=0, le=MAX_DEADLINE_S)
    job_timeout_s: float = Field(default=300.0, gt=0)
    worker_concurrency: int = Field(default=0, ge=0)
    torch_threads: int = Field(default=0, ge=0, le=1024)

    log_format: Literal["text", "json"] = "text"

    api_host: str = "127.0.0.1"
    # The proxies whose X-Forwarded-For names the client (comma-separated addresses, or "*" where
    # only a proxy can reach the API); empty: none, the client is the connection's peer. The
    # per-address limit of new visitor sessions counts what this decides.
    forwarded_allow_ips: str = ""
    api_port: int = Field(default=8000, ge=1, le=65535)
    flower_port: int = Field(default=5555, ge=1, le=65535)
    # A worker serves /metrics on this port (+ its GPU's index under --gpus); 0: not served.
    worker_metrics_port: int = Field(default=9200, ge=0, le=65000)
    # ...on this address: this machine only, unless a deployment's Prometheus scrapes it from
    # another (compose and Kubernetes set 0.0.0.0, inside their private networks).
    worker_metrics_host: str = "127.0.0.1"
    # /docs, /redoc and /openapi.json; unset: served in development only.
    api_docs: bool | None = None
    flower_basic_auth: str = ""
    visibility_timeout_s: int = Field(default=3600, ge=5)
    # RabbitMQ only: the chat queues' type, and (quorum queues) how many deliveries of one message
    # before RabbitMQ dead-letters it (a message that kills every worker that takes it).
    rabbitmq_queue_type: Literal["classic", "quorum"] = "classic"
    rabbitmq_delivery_limit: int = Field(default=20, ge=1, le=10_000)
    # For the queues' unacked counts (empty: the broker's host, port 15672, its credentials).
    rabbitmq_management_url: str = ""

    cache_ttl_s: float = Field(default=86400.0, ge=0)
    cache_max_entries: int = Field(default=10000, ge=1)

    job_max_retries: int = Field(default=10, ge=0, le=100)
    breaker_fail_max: int = Field(default=5, ge=1, le=1000)
    breaker_reset_s: float = Field(default=30.0, gt=0, le=3600)
    breaker_max_trials: int = Field(default=10, ge=0, le=10_000)
    health_interval_s: float = Field(default=30.0, gt=0, le=3600)
    republish_after_s: float = Field(default=900.0, gt=0)
    heartbeat_s: float = Field(default=10.0, gt=0, le=300)
    worker_dead_after_s: float = Field(default=30.0, gt=0, le=3600)
    shutdown_timeout_s: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("routes_file", "channels_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # compose passes unset variables as ""

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, url: str) -> str:
        if url.split("://", 1)[0] not in {"memory", "redis", "rediss", "amqp", "amqps", "pyamqp"}:
            raise ValueError(f"broker_url must be memory://, redis:// or amqp://, got {url!r}")
        return url

    @model_validator(mode="after")
    def _production_needs_real_services(self) -> Settings:
        if self.env == "production" and self.embedded:
            raise ValueError("BABELQ_ENV=production needs a real BABELQ_BROKER_URL (redis or amqp)")
        if self.env == "production" and self.store_url.startswith("sqlite"):
            raise ValueError("BABELQ_ENV=production needs BABELQ_DATABASE_URL (postgresql+psycopg)")
        return self

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        # Required only where it is used (the API: core.deployment_key); short is never taken.
        if 0 < len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("BABELQ_SECRET_KEY must be at least 32 characters")
        if self.env != "production":
            return self
        for name in SECRET_BEARING:
            value = getattr(self, name)
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            if PLACEHOLDER in text.lower():
                raise ValueError(
                    f"BABELQ_{name.upper()} still holds a {PLACEHOLDER!r} placeholder: set a real secret"
                )
        return self

    @model_validator(mode="after")
    def _death_outlasts_heartbeats(self) -> Settings:
        if self.worker_dead_after_s < 2 * self.heartbeat_s:
            raise ValueError(
                "worker_dead_after_s must be at least twice heartbeat_s, or one late beat would make "
                "a living worker's jobs run twice"
            )
        return self

    @property
    def embedded(self) -> bool:
        """True when the broker lives inside this process (the single-machine stack)."""
        return self.broker_url.startswith("memory")

    @property
    def proxy_options(self) -> dict[str, object]:
        """uvicorn's options for the proxies trusted (uvicorn alone would trust 127.0.0.1)."""
        trusted = self.forwarded_allow_ips.strip()
        return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}

    @property
    def docs_served(self) -> bool:
        return self.env != "production" if self.api_docs is None else self.api_docs

    @property
    def keys_required(self) -> bool:
        return self.env == "production" if self.require_api_keys is None else self.require_api_keys

    @property
    def shared_redis_url(self) -> str:
        """The Redis every process of the fleet shares: BABELQ_REDIS_URL, else a Redis broker's;
        "" when there is none."""
        return self.redis_url or (self.broker_url if self.broker_url.startswith("redis") else "")

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the store; SQLite under var_dir unless one is given."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'babelq.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        """Where prepared models are cached."""
        return self.model_cache_dir or self.var_dir / "models"


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; a bad value becomes one clear ConfigurationError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"BABELQ_{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from exc
