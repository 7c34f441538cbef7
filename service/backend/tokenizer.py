"""The artifact's fast tokenizer (the `tokenizers` library) and the graph's inputs from its ids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from service.backend.segmenter import TypedIds

if TYPE_CHECKING:
    from service.backend.artifact import Manifest

TextOrPair = str | tuple[str, str]
"""One text, or a sentence pair (truncated `longest_first`, as Hugging Face's tokenizer does)."""

DEFAULT_INPUT_NAMES = ("input_ids", "attention_mask")


class TextEncoder:
    """The artifact's fast tokenizer: truncates to the model's max length on the tokenizer's
    side, never pads (`feeds` pads a batch with the model's pad id).

    The keyword arguments come from the manifest (`truncation_side`, `pad_token_id`,
    `input_names`); their defaults are what artifacts written before those fields assumed.
    """

    def __init__(
        self,
        path: Path,
        max_length: int,
        *,
        truncation_side: Literal["right", "left"] = "right",
        pad_id: int | None = None,
        input_names: Sequence[str] = DEFAULT_INPUT_NAMES,
    ) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.enable_truncation(max_length, direction=truncation_side)
        self._tokenizer.no_padding()
        if pad_id is None:
            pad = self._tokenizer.token_to_id("[PAD]")
            pad_id = 0 if pad is None else int(pad)
        self.pad_id = pad_id
        self.max_length = max_length
        self.input_names = tuple(input_names)

    @classmethod
    def for_artifact(cls, model_dir: Path, manifest: Manifest) -> TextEncoder:
        """The encoder exactly as the manifest describes it."""
        return cls(
            Path(model_dir) / manifest.tokenizer,
            manifest.max_length,
            truncation_side=manifest.truncation_side,
            pad_id=manifest.pad_token_id,
            input_names=manifest.input_names,
        )

    def encode(self, texts: Sequence[TextOrPair]) -> list[list[int]]:
        """Token ids per text; a pair's are `TypedIds`, which carry its token type ids."""
        if all(isinstance(t, str) for t in texts):
            if len(texts) == 1:
                return [self._tokenizer.encode(texts[0]).ids]
            return [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        encodings = self._tokenizer.encode_batch(list(texts))
        return [
            e.ids if isinstance(t, str) else TypedIds(e.ids, e.type_ids)
            for t, e in zip(texts, encodings, strict=True)
        ]

    def feeds(self, batch: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """The graph's inputs for a batch of id lists, padded on the right to the longest.

        token_type_ids are 0 for a single text (one segment, as Hugging Face tokenizers give
        for a single sequence and any window cut from one); a pair's come with its ids."""
        longest = max((len(ids) for ids in batch), default=0)
        input_ids = np.full((len(batch), longest), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(batch), longest), dtype=np.int64)
        token_type_ids = np.zeros_like(input_ids)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
            if isinstance(ids, TypedIds):
                token_type_ids[row, : len(ids)] = ids.type_ids
        arrays = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
        }
        return {name: arrays[name] for name in self.input_names}

    def encode_feeds(self, texts: Sequence[TextOrPair]) -> dict[str, np.ndarray]:
        """Tokenize and pad in one call (export checks, tests, offline scoring)."""
        return self.feeds(self.encode(texts))
