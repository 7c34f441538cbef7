"""The artifact's fast tokenizer (the `tokenizers` library)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class TextEncoder:
    """The artifact's fast tokenizer, truncating to the model's max length, never padding."""

    def __init__(self, path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.no_padding()
        pad = self._tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else int(pad)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        if len(texts) == 1:
            return [self._tokenizer.encode(texts[0]).ids]
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]
