"""StaticBatchRunner on a tiny random model, and the null runner."""

from __future__ import annotations

import pytest

from core.errors import ConfigurationError, ModelLoadError
from tests.support.prompts import PROMPTS
from workers.model_loader import (
    LoadedModel,
    cpu_has_bfloat16,
    footprint_mib,
    load_model,
    resolve_device,
    resolve_dtype,
)
from workers.runners.base import completion
from workers.runners.null import NULL_ANSWER, NullRunner
from workers.runners.static import StaticBatchRunner, answer_text


@pytest.fixture(scope="module")
def runner(loaded: LoadedModel) -> StaticBatchRunner:
    return StaticBatchRunner(loaded)


def test_loader_prepares_the_tokenizer_for_batches(loaded: LoadedModel) -> None:
    # given a tokenizer saved without a pad token / expect left padding and eos as pad
    assert loaded.tokenizer.padding_side == "left"
    assert loaded.tokenizer.pad_token == loaded.tokenizer.eos_token
    assert (loaded.device, loaded.dtype) == ("cpu", "bfloat16" if cpu_has_bfloat16() else "float32")
    assert not loaded.model.training


def test_one_result_per_prompt_in_order(runner: StaticBatchRunner) -> None:
    # when a batch of four is generated
    results = runner.generate(PROMPTS, max_new_tokens=8)
    # expect four answers, each matching its own prompt's single run
    assert len(results) == len(PROMPTS)
    assert [r.prompt_tokens for r in results] == [runner.count_tokens(p) for p in PROMPTS]


def test_batch_gives_the_same_text_as_single_runs(runner: StaticBatchRunner) -> None:
    # given prompts of different lengths, so the batch is left-padded
    batched = runner.generate(PROMPTS, max_new_tokens=12)
    # when each runs alone / expect the same greedy answer
    singles = [runner.generate([prompt], max_new_tokens=12)[0] for prompt in PROMPTS]
    assert [g.text for g in batched] == [g.text for g in singles]
    assert sum(bool(g.text) for g in batched) >= len(PROMPTS) - 1


def test_token_counts_ignore_padding(runner: StaticBatchRunner) -> None:
    # given a short prompt batched with a long one
    short, long = PROMPTS[3], PROMPTS[1]
    results = runner.generate([short, long], max_new_tokens=4)
    # expect the short prompt counted without the padding it got
    assert results[0].prompt_tokens == runner.count_tokens(short)
    assert results[0].prompt_tokens < results[1].prompt_tokens


def test_max_new_tokens_is_respected(runner: StaticBatchRunner) -> None:
    # when the limit is tiny / expect answers cut off at it, with reason "length"
    results = runner.generate(PROMPTS, max_new_tokens=3)
    assert all(g.completion_tokens == 3 and g.finish_reason == "length" for g in results)


def test_empty_batch_gives_empty_list(runner: StaticBatchRunner) -> None:
    assert runner.generate([], max_new_tokens=8) == []


def test_completion_stops_at_the_first_eos() -> None:
    # given a row that ended (eos 2) and was then padded with the eos id / expect eos counted once
    assert completion([5, 6, 2, 2, 2], frozenset({2})) == ([5, 6, 2], "stop")
    assert completion([5, 6, 7], frozenset({2})) == ([5, 6, 7], "length")
    assert completion([9, 5], frozenset({2, 9})) == ([9], "stop")


def test_a_cut_off_character_is_dropped_from_the_answer() -> None:
    # given an answer cut mid-character by the length limit / expect the stub (U+FFFD) gone
    assert answer_text(" 我的订单\ufffd", "length") == "我的订单"
    assert answer_text(" done \n", "stop") == "done"


def test_null_runner_answers_every_prompt() -> None:
    runner = NullRunner()
    results = runner.generate(PROMPTS[:2], max_new_tokens=16)
    assert [g.text for g in results] == [NULL_ANSWER, NULL_ANSWER]
    assert results[0].prompt_tokens == runner.count_tokens(PROMPTS[0]) == 8
    assert results[0].finish_reason == "stop"
    assert runner.generate([], max_new_tokens=16) == []


def test_null_runner_respects_max_new_tokens() -> None:
    result = NullRunner().generate([PROMPTS[0]], max_new_tokens=1)[0]
    assert (result.completion_tokens, result.finish_reason) == (1, "length")


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("cuda:1") == "cuda:1"
    assert resolve_device("auto") in {"cpu", "cuda"}
    assert resolve_dtype("auto", "cpu") == ("bfloat16" if cpu_has_bfloat16() else "float32")
    with pytest.raises(ConfigurationError):
        resolve_device("tpu")
    assert resolve_dtype("int8", "cpu") == "int8"
    with pytest.raises(ConfigurationError, match="dtype must be one of"):
        resolve_dtype("int4", "cpu")


def test_missing_local_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="no model folder"):
        load_model(str(tmp_path / "absent"), device="cpu")


def test_unreachable_hub_id_says_to_use_a_local_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the hub is off limits (offline mode fails at once instead of retrying the network)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    # expect our error, naming the id and the way out
    with pytest.raises(ModelLoadError, match=r"(?s)babelq-test/no-such-model.*local model folder"):
        load_model("babelq-test/no-such-model", device="cpu")


def test_int8_on_cpu_quantises_the_linear_layers_and_still_answers(tiny_model_dir) -> None:
    full = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    quantised = load_model(str(tiny_model_dir), device="cpu", dtype="int8")
    assert quantised.dtype == "int8"
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    assert any(isinstance(m, DynamicQuantizedLinear) for m in quantised.model.modules())
    # the Linear weights shrink from 4 bytes to 1; embeddings and norms stay float32
    assert footprint_mib(quantised.model) < 0.8 * footprint_mib(full.model)
    results = StaticBatchRunner(quantised).generate(PROMPTS[:3], max_new_tokens=4)
    assert len(results) == 3 and all(1 <= r.completion_tokens <= 4 for r in results)
