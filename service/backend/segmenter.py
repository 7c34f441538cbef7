"""Texts to the token windows the model sees, under a long-text policy.

One tokenizer pass per text gives everything: the ids the model takes (the start or the end of
the text), whether the text was longer than the model's maximum, its full token count, and,
for `chunk`, every window of the model's length overlapping its neighbour by `stride` tokens
(the `tokenizers` library's overflowing encodings, special tokens added to each window).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Policy = Literal["right", "left", "error", "chunk"]
POLICIES: tuple[Policy, ...] = ("right", "left", "error", "chunk")


@dataclass(frozen=True, slots=True)
class Segmented:
    """One text: the id windows to run (one unless chunked), its full token count, and
    whether the model sees less than all of it."""

    windows: list[list[int]]
    tokens: int
    truncated: bool


class Segmenter:
    def __init__(
        self,
        tokenizer_file: Path,
        max_length: int,
        *,
        stride: int,
        default_side: Literal["right", "left"] = "right",
    ) -> None:
        from tokenizers import Tokenizer

        def load(side: Literal["right", "left"]) -> Any:
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length, stride=self.stride, direction=side)
            return tokenizer

        self.max_length = max_length
        self._specials = int(
            Tokenizer.from_file(str(tokenizer_file)).num_special_tokens_to_add(False)
        )
        # Windows must advance: the overlap stays below the room a window has for text.
        self.stride = max(0, min(stride, (max_length - self._specials) // 2))
        self.default_side = default_side
        self._right = load("right")
        self._left = load("left")

    def segment(self, texts: Sequence[str], policy: Policy) -> list[Segmented]:
        tokenizer = self._left if policy == "left" else self._right
        if len(texts) == 1:
            encodings = [tokenizer.encode(texts[0])]
        else:
            encodings = tokenizer.encode_batch(list(texts))
        return [self._one(encoding, policy) for encoding in encodings]

    def _one(self, encoding: Any, policy: Policy) -> Segmented:
        ids: list[int] = encoding.ids
        overflow = encoding.overflowing
        if not overflow:
            return Segmented([ids], len(ids), False)
        windows = [ids, *(o.ids for o in overflow)]
        room = [len(w) - self._specials for w in windows]
        # The first window's text, then each further window's text less the overlap.
        tokens = room[0] + sum(r - self.stride for r in room[1:]) + self._specials
        if policy == "chunk":
            return Segmented(windows, tokens, False)
        return Segmented([ids], tokens, True)
