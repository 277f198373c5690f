"""Load a causal LM and its tokenizer, ready for batched greedy generation."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from core.errors import ConfigurationError, ModelLoadError
from routing.table_spec import Dtype
from workers.control_markers import ControlMarkers

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DTYPE_NAMES: tuple[str, ...] = get_args(Dtype)  # the routing table's profiles name one
_DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class ChatTemplate:
    """A tokenizer's chat template, rendering prompts the way the model was trained to read them."""

    tokenizer: PreTrainedTokenizerBase

    def render(self, prompt: Sequence[dict[str, str]]) -> str:
        """The prompt as text, ending with the assistant header the model answers after. The
        rendered text is tokenised with its markers parsed, so what customers wrote (and what
        was answered them) is defused first: only the template writes control tokens."""
        defuse = self._markers.defuse
        defused = [
            message if message["role"] == "system" else {**message, "content": defuse(message["content"])}
            for message in prompt
        ]
        text = self.tokenizer.apply_chat_template(defused, add_generation_prompt=True, tokenize=False)
        assert isinstance(text, str)  # tokenize=False always renders to one string
        return text

    @cached_property
    def _markers(self) -> ControlMarkers:
        return ControlMarkers.of(self.tokenizer)


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode on its device, with a left-padding tokenizer that has a pad token."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    device: str
    dtype: str

    def render_chat(self, prompt: Sequence[dict[str, str]]) -> str:
        """See ChatTemplate.render."""
        return self.chat_template.render(prompt)

    @cached_property
    def chat_template(self) -> ChatTemplate:
        return ChatTemplate(self.tokenizer)


def resolve_device(requested: str) -> str:
    """Pick the GPU for "auto" when there is one; "cpu", "cuda" and "cuda:N" pass through."""
    if requested == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if not _DEVICE_PATTERN.fullmatch(requested):
        raise ConfigurationError(f"device must be auto, cpu, cuda or cuda:N, got {requested!r}")
    return requested


def resolve_dtype(requested: str, device: str) -> str:
    """Map "auto" to bfloat16 where the hardware computes in it, else float32 on a CPU (float16
    is slow there) and float16 on a GPU without bfloat16."""
    if requested not in DTYPE_NAMES:
        raise ConfigurationError(f"dtype must be one of {DTYPE_NAMES}, got {requested!r}")
    if requested != "auto":
        return requested
    if device == "cpu":
        return "bfloat16" if cpu_has_bfloat16() else "float32"
    import torch

    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""CPU flags (Linux's names) of instructions that compute in bfloat16: without them torch emulates
it, slower than float32."""


def cpu_has_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has AVX-512 BF16 or AMX (read from /proc/cpuinfo; False where unreadable)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(BF16_CPU_FLAGS & set(line.partition(":")[2].split()))
    return False


def load_model(name_or_path: str, device: str = "auto", dtype: str = "auto") -> LoadedModel:
    """Load a local folder or a hub id; a hub id we cannot fetch raises ModelLoadError."""
    import torch

    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    _check_device(resolved_device)
    local = _local_only(name_or_path)
    if resolved_dtype == "int8":
        model = _load_int8(name_or_path, resolved_device, local)
    else:
        model = _load_weights(name_or_path, getattr(torch, resolved_dtype), resolved_device, local)
    tokenizer = _load_tokenizer(name_or_path, local)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.train(False)  # = model.eval() (no dropout); eval() is untyped for mypy
    return LoadedModel(model, tokenizer, name_or_path, resolved_device, resolved_dtype)


def _check_device(device: str) -> None:
    """Fail with our own error, before loading anything, when CUDA is asked for but absent."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} was asked for, but torch sees no CUDA device")


def _local_only(name_or_path: str) -> bool:
    """True for an existing folder: then we never touch the network.

    Something that looks like a path (not like `org/name`) but does not exist is refused here,
    rather than being sent to the hub as a malformed id.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return True
    if path.is_absolute() or name_or_path.startswith((".", "~")) or name_or_path.count("/") > 1:
        raise ModelLoadError(f"no model folder at {name_or_path!r}")
    return False


def _load_weights(name_or_path: str, dtype: torch.dtype, device: str, local: bool) -> PreTrainedModel:
    """Weights go straight to `device` (device_map), without a detour through host memory."""
    from transformers import AutoModelForCausalLM

    try:
        model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
            name_or_path, dtype=dtype, device_map=device, local_files_only=local
        )
    except (OSError, ValueError) as error:
        raise _load_error(name_or_path, local, error) from error
    return model


def _load_int8(name_or_path: str, device: str, local: bool) -> PreTrainedModel:
    """int8 weights: torch dynamic quantisation of the Linear layers on CPU, bitsandbytes on CUDA."""
    import torch

    if device == "cpu":
        from torch.ao.quantization import quantize_dynamic

        model = _load_weights(name_or_path, torch.float32, device, local)
        with warnings.catch_warnings():  # torch.ao.quantization warns that it moves to torchao
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
            quantized: PreTrainedModel = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
        return quantized
    return _load_bitsandbytes_int8(name_or_path, device, local)


def _load_bitsandbytes_int8(name_or_path: str, device: str, local: bool) -> PreTrainedModel:
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401  (transformers needs it for load_in_8bit)
    except ImportError as error:
        raise ModelLoadError("dtype int8 on CUDA needs bitsandbytes: pip install bitsandbytes") from error
    try:
        model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
            name_or_path,
            quantization_config=BitsAndBytesConfig(load_in_8bit=True),  # type: ignore[no-untyped-call]
            device_map=device,
            local_files_only=local,
        )
    except (OSError, ValueError) as error:
        raise _load_error(name_or_path, local, error) from error
    return model


def footprint_mib(model: PreTrainedModel) -> float:
    """Bytes the weights take, in MiB: parameters and buffers, plus the packed weights of
    dynamically quantised layers (which are neither)."""
    total = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    for module in model.modules():
        packed = getattr(module, "_packed_params", None)
        if packed is not None and hasattr(packed, "_weight_bias"):
            weight, bias = packed._weight_bias()
            total += weight.numel() * weight.element_size()
            total += 0 if bias is None else bias.numel() * bias.element_size()
    return total / (1024 * 1024)


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """The tokenizer alone (an engine that loads the weights itself needs only this)."""
    return _load_tokenizer(name_or_path, _local_only(name_or_path))


def eos_ids_of(name_or_path: str, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """Every id that ends an answer, read from the model's generation config and its tokenizer."""
    from transformers import GenerationConfig

    try:
        configured = GenerationConfig.from_pretrained(name_or_path).eos_token_id
    except OSError:  # no generation_config.json: the tokenizer's eos alone
        configured = None
    return eos_ids(configured, tokenizer, name_or_path)


def eos_ids(
    configured: int | list[int] | None, tokenizer: PreTrainedTokenizerBase, name: str
) -> frozenset[int]:
    """The generation config's eos ids (one or a list) and the tokenizer's."""
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    ids.discard(None)
    if not ids:
        raise ModelLoadError(f"{name} has no eos token, so answers could never stop")
    return frozenset(i for i in ids if i is not None)


DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


def checkpoint_mib(model_dir: str, dtype: str) -> float:
    """What a checkpoint's weights take in `dtype`, in MiB, read from its safetensors headers
    (for an engine that loads the weights in its own process); 0.0 where there are none."""
    from safetensors import safe_open

    parameters = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="numpy") as weights:
            for name in weights.keys():  # noqa: SIM118 (safe_open is no mapping)
                parameters += math.prod(weights.get_slice(name).get_shape())
    return parameters * DTYPE_BYTES.get(dtype, 4) / (1024 * 1024)


def _load_tokenizer(name_or_path: str, local: bool) -> PreTrainedTokenizerBase:
    """Left padding, so that every prompt of a batch ends where generation starts."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, padding_side="left", local_files_only=local)
    except (OSError, ValueError) as error:
        raise _load_error(name_or_path, local, error) from error
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"the tokenizer of {name_or_path!r} has neither pad nor eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_error(name_or_path: str, local: bool, error: Exception) -> ModelLoadError:
    """Say what was tried; for a hub id, say how to run without the hub."""
    if local:
        return ModelLoadError(f"could not load the model folder {name_or_path!r}: {error}")
    return ModelLoadError(
        f"could not fetch {name_or_path!r} from the Hugging Face hub (offline, or no such id): "
        f"{str(error).rstrip('.')}. Use a local model folder instead, e.g. the default model from "
        "`babelq model prepare`."
    )


def release_memory() -> None:
    """Give back the memory of models and tensors no longer referenced (CUDA's cached blocks too),
    before the next model or batch size needs it."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
