"""Which engine a profile gets: `auto` is vLLM where it is installed and runs the precision, else
static; an explicit engine is never swapped; vLLM's options are checked before it starts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.settings import load_settings
from routing.table import load_table
from workers import runtime
from workers.model_loader import cpu_has_bfloat16, resolve_dtype
from workers.vllm_options import CPU_HEAD_SIZES, VllmOptions, max_model_len, unsupported_on


@pytest.mark.parametrize(
    ("requested", "dtype", "installed", "runs"),
    [
        ("auto", "bfloat16", True, "vllm"),
        ("auto", "float32", True, "vllm"),
        ("auto", "int8", True, "static"),
        ("auto", "bfloat16", False, "static"),
        ("static", "bfloat16", True, "static"),
        ("vllm", "float32", True, "vllm"),
    ],
)
def test_auto_is_vllm_where_it_can_run(requested: str, dtype: str, installed: bool, runs: str) -> None:
    assert runtime.choose_engine(requested, dtype, installed) == runs


def test_an_explicit_vllm_engine_without_vllm_says_how_to_install_it() -> None:
    with pytest.raises(ConfigurationError, match="make install-vllm"):
        runtime.choose_engine("vllm", "bfloat16", vllm_available=False)


def test_the_shipped_profile_runs_the_best_engine_there_is() -> None:
    profile = load_table().profiles["default"]
    assert (profile.engine, profile.dtype) == ("auto", "auto")


def _options(**changes: object) -> VllmOptions:
    settings = load_settings()
    profile = load_table().profiles["default"]
    options = runtime.vllm_options(settings, profile, "model-dir", "cpu", "bfloat16")
    return replace(options, **changes)  # type: ignore[arg-type]


def test_vllm_options_come_from_the_profile_and_settings() -> None:
    options = _options()
    profile = load_table().profiles["default"]
    assert options.max_num_seqs == profile.max_batch_size
    assert options.max_num_batched_tokens == profile.max_batch_tokens
    assert options.max_model_len == 4096 and options.kv_cache_bytes == 1024**3  # no config.json there
    assert options.repetition_penalty == profile.repetition_penalty


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"dtype": "int8"}, "engine: static for int8"),
        ({"device": "cuda:1"}, "CUDA_VISIBLE_DEVICES"),
        ({"max_num_batched_tokens": 4}, "max_batch_tokens"),
    ],
)
def test_vllm_options_vllm_cannot_run_are_refused_naming_the_setting(changes: dict, names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        _options(**changes)


def test_cuda_0_is_the_pinned_gpu() -> None:
    options = runtime.vllm_options(
        load_settings(), load_table().profiles["default"], "m", "cuda:0", "bfloat16"
    )
    assert options.device == "cuda"


def test_auto_dtype_is_bfloat16_on_a_cpu_that_computes_in_it(tmp_path: Path, monkeypatch) -> None:
    with_bf16 = tmp_path / "with"
    with_bf16.write_text("processor : 0\nflags : fpu avx512f avx512_bf16 avx512_vnni\n")
    without = tmp_path / "without"
    without.write_text("processor : 0\nflags : fpu avx2 avx512f\n")
    amx = tmp_path / "amx"
    amx.write_text("flags : fpu amx_bf16 amx_tile\n")
    assert cpu_has_bfloat16(with_bf16) and cpu_has_bfloat16(amx)
    assert not cpu_has_bfloat16(without) and not cpu_has_bfloat16(tmp_path / "missing")
    from workers import model_loader

    monkeypatch.setattr(model_loader, "cpu_has_bfloat16", lambda: False)
    assert resolve_dtype("auto", "cpu") == "float32"
    monkeypatch.setattr(model_loader, "cpu_has_bfloat16", lambda: True)
    assert resolve_dtype("auto", "cpu") == "bfloat16"
    assert resolve_dtype("float32", "cpu") == "float32"


def test_auto_runs_static_for_a_model_vllm_cannot_run_on_a_cpu(tiny_model_dir: Path) -> None:
    why = unsupported_on("cpu", str(tiny_model_dir))
    assert why is not None and "head sizes" in why and "16" in why
    assert runtime.choose_engine("auto", "bfloat16", True, why) == "static"
    assert unsupported_on("cuda", str(tiny_model_dir)) is None
    with pytest.raises(ConfigurationError, match="head sizes"):
        runtime.choose_engine("vllm", "bfloat16", True, why)


def test_the_head_sizes_we_know_are_the_installed_vllms() -> None:
    pytest.importorskip("vllm")
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    assert tuple(CPUAttentionBackend.get_supported_head_sizes()) == CPU_HEAD_SIZES


def test_max_model_len_is_the_models_own_capped_unless_set(tiny_model_dir: Path) -> None:
    assert max_model_len(0, str(tiny_model_dir)) == 1024  # its max_position_embeddings
    assert max_model_len(0, "org/hub-id") == 4096
    assert max_model_len(512, str(tiny_model_dir)) == 512
