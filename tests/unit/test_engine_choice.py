"""Which engine a profile gets: `auto` is continuous batching, or static for a model whose
attention the continuous manager cannot page; an explicit engine is never swapped."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.errors import ConfigurationError
from routing.table import load_table
from workers import runtime
from workers.model_loader import LoadedModel
from workers.runners import continuous
from workers.runners.continuous import ContinuousBatchRunner
from workers.runners.static import StaticBatchRunner


def _unpageable(*_args, **_kwargs):
    raise ConfigurationError("continuous batching cannot run this model: no paged attention")


def test_the_shipped_profile_is_the_measured_default_static_32(loaded: LoadedModel) -> None:
    profile = load_table().profiles["default"]
    assert (profile.engine, profile.max_batch_size, profile.max_wait_ms) == ("static", 32, 20)
    runner, engine = runtime.runner_for(loaded, profile)
    assert engine == "static" and isinstance(runner, StaticBatchRunner)


def test_auto_runs_continuous_batching_with_the_profile_budget(loaded: LoadedModel) -> None:
    profile = replace(load_table().profiles["default"], engine="auto")
    runner, engine = runtime.runner_for(loaded, profile)
    try:
        assert engine == "continuous" and isinstance(runner, ContinuousBatchRunner)
        assert runner.max_batch_size == profile.max_batch_size
        assert runner.cache_tokens == profile.max_batch_tokens
    finally:
        runtime.close_runner(runner)


def test_auto_falls_back_to_static_for_a_model_it_cannot_page(
    loaded: LoadedModel, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(continuous, "build_manager", _unpageable)
    runner, engine = runtime.runner_for(loaded, replace(load_table().profiles["default"], engine="auto"))
    assert engine == "static" and isinstance(runner, StaticBatchRunner)
    assert "running the static engine" in caplog.text


def test_an_explicit_continuous_engine_is_not_swapped(loaded: LoadedModel, monkeypatch) -> None:
    monkeypatch.setattr(continuous, "build_manager", _unpageable)
    profile = replace(load_table().profiles["default"], engine="continuous")
    with pytest.raises(ConfigurationError, match="paged attention"):
        runtime.runner_for(loaded, profile)
