"""Each streamed row's answer so far, told while a static batch is generated.

transformers' own TextStreamer takes one sequence; a babelq batch holds many, of which only some
are streamed. `generate` hands a streamer the prompt ids once, then every step's new token of
every row; this one keeps the rows' tokens and, every STREAM_EVERY_TOKENS steps, decodes the
streamed rows that have not ended and tells their listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from transformers.generation.streamers import BaseStreamer

from workers.runners.base import STREAM_EVERY_TOKENS, TextListener, completion, partial_text, tell

log = logging.getLogger(__name__)
Decode = Callable[[list[int]], str]


class RowStreamer(BaseStreamer):
    """Tells each row's listener (None: a row nobody streams) its answer so far."""

    def __init__(
        self,
        listeners: Sequence[TextListener | None],
        decode: Decode,
        eos_ids: frozenset[int],
        every: int = STREAM_EVERY_TOKENS,
    ) -> None:
        self._listeners = list(listeners)
        self._decode = decode
        self._eos_ids = eos_ids
        self._every = every
        self._tokens: list[list[int]] = [[] for _ in listeners]
        self._ended = [listener is None for listener in listeners]
        self._told = ["" for _ in listeners]
        self._steps = 0

    def put(self, value: torch.Tensor) -> None:
        if value.dim() > 1:  # the prompt ids, handed over once before the first step
            return
        for tokens, token in zip(self._tokens, value.tolist(), strict=True):
            tokens.append(token)
        self._steps += 1
        if self._steps % self._every == 0:
            self._tell()

    def end(self) -> None:
        """Generation is over: the rows still open hear their last text (the answer follows)."""
        self._tell()

    def _tell(self) -> None:
        for row, listener in enumerate(self._listeners):
            if listener is None or self._ended[row]:
                continue
            try:
                text, self._ended[row] = self._text(self._tokens[row])
            except Exception as exc:  # a text that cannot be decoded yet costs an update, not the batch
                log.warning("could not decode a streamed answer: %s", exc)
                continue
            if text != self._told[row]:
                self._told[row] = text
                tell(listener, text)

    def _text(self, tokens: list[int]) -> tuple[str, bool]:
        """The row's text up to its eos (the pad after it is not text), and whether it ended."""
        kept, reason = completion(tokens, self._eos_ids)
        return partial_text(self._decode(kept)), reason == "stop"
