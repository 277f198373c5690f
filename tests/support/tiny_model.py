"""A random-weight, Llama-shaped chat model small enough to build and run in a unit test.

It answers nonsense, but it exercises every path the real model does: a chat template, left
padding, an eos token, byte-level tokens for any UTF-8 text, `save_pretrained` / `from_pretrained`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from workers.default_model import CHATML_TEMPLATE

BOS, EOS = "<|im_start|>", "<|im_end|>"
SEED = 1234
VOCAB_SIZE = 400
CORPUS = [
    "Hello, how can I help you today? My order has not arrived yet.",
    "Hola, ¿en qué puedo ayudarle? Mi pedido todavía no ha llegado.",
    "Bonjour, comment puis-je vous aider ? Ma commande n'est pas arrivée.",
    "你好，请问有什么可以帮您？我的订单还没有到。",
    "Guten Tag, wie kann ich helfen? Meine Bestellung ist noch nicht da.",
    "system user assistant You are a helpful customer-service agent.",
]


VLLM_HIDDEN_SIZE = 64
"""Two heads of 32: vLLM's CPU attention takes head sizes from 32 up (16 kills its engine)."""


def build_tiny_model(path: Path, hidden_size: int = 32) -> Path:
    """Build the tiny model and its tokenizer into `path` (created) and return `path`."""
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer()
    model = _build_model(tokenizer, hidden_size)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE trained in memory: every UTF-8 string tokenises, specials stay whole.

    No pad token on purpose: like SmolLM2 in some exports, the loader has to fall back to eos.
    """
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=BOS, eos_token=EOS, chat_template=CHATML_TEMPLATE
    )


def _build_model(tokenizer: PreTrainedTokenizerFast, hidden_size: int) -> LlamaForCausalLM:
    """Seeded random weights, with a wide initialiser so that greedy choices are clear-cut."""
    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        initializer_range=0.5,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    _silence_special_tokens(model, tokenizer)
    return model.eval()


def _silence_special_tokens(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast) -> None:
    """Zero the lm_head rows of the special tokens, so greedy decoding (almost) never picks them.

    A zero row gives a logit of exactly 0, while the best of ~400 random logits is far above 0.
    Without this, a random model may emit eos (or a special token that decoding skips) first and
    answer with empty text, which would make "non-empty answer" tests flaky for no real reason.
    """
    with torch.no_grad():
        for token_id in tokenizer.all_special_ids:
            model.lm_head.weight[token_id].zero_()
