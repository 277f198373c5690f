"""`babelq tune` on the tiny model: each configuration measured in-process, the pick written into
a routing table that loads, and a bad pick never written."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.settings import load_settings
from ops.bench.tune import TuneOptions, measure, run_tune, write_profile
from ops.bench.tuning import Candidate
from routing.table import load_table
from workers.model_loader import LoadedModel, resolve_dtype
from workers.runners.static import StaticBatchRunner

TEXTS = ["Where is my parcel?", "¿Dónde está mi pedido?", "我的订单在哪里？", "Bonjour"]


def test_a_configuration_is_measured_at_saturation_and_half_load(loaded: LoadedModel):
    profile = replace(load_table().profiles["default"], engine="static", max_batch_size=2, max_new_tokens=3)
    trial = measure(lambda p: StaticBatchRunner(loaded, p.repetition_penalty), profile, TEXTS, jobs=6)
    assert trial.error is None and trial.jobs_s and trial.jobs_s > 0
    assert trial.p99_ms and trial.p99_ms > 0


def test_the_sweep_picks_and_writes_a_routing_table_that_loads(tiny_model_dir: Path, tmp_path: Path):
    settings = load_settings(model=str(tiny_model_dir), max_new_tokens=3, var_dir=str(tmp_path), device="cpu")
    routes = tmp_path / "routes.yaml"
    options = TuneOptions(
        engines=("static",),
        batch_sizes=(1, 2),
        jobs=4,
        out=tmp_path / "out",
        write=routes,
        p99_target_ms=600_000,
    )
    steps: list[str] = []
    result = run_tune(settings, options, steps.append)
    # expect every configuration measured (or left when a larger batch stopped paying), one chosen
    assert steps[0] == f"static batch 1 wait 20 ms {resolve_dtype('auto', 'cpu')}"
    assert len(result["trials"]) == len(steps) >= 2
    assert result["met_target"] and result["jobs_s"] > 0
    written = load_table(routes).profiles["default"]
    chosen = result["chosen"]
    assert (written.engine, written.max_batch_size, written.dtype) == (
        chosen["engine"],
        chosen["max_batch_size"],
        chosen["dtype"],
    )
    assert json.loads((tmp_path / "out" / "tune.json").read_text())["chosen"] == chosen
    assert (tmp_path / "out" / "tune.png").stat().st_size > 10_000


def test_a_pick_that_makes_an_invalid_table_is_not_written(tmp_path: Path):
    target = tmp_path / "routes.yaml"
    with pytest.raises(ConfigurationError):
        write_profile(None, target, "default", Candidate("static", 0, 20, "float32"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"jobs": 1}, "--jobs"),
        ({"engines": ("warp",)}, "engines"),
        ({"p99_target_ms": 0}, "p99"),
        ({"dtypes": ()}, "dtypes"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(changes, message):
    with pytest.raises(ConfigurationError, match=message):
        TuneOptions(**changes)
