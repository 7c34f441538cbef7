"""Texts to the token windows the model sees, under a long-text policy.

One tokenizer pass per text, without truncation, gives its full token count; a text longer
than the model takes is then cut here: its special tokens (the `[CLS] ... [SEP]` or `<s> ...
</s>` the tokenizer's post-processor puts around a single text) are kept, and the text between
them keeps its start (`right`), its end (`left`), or is split into windows of the model's
length overlapping by `stride` tokens (`chunk`), each wrapped in the same special tokens, as
Hugging Face tokenizers' overflowing windows are. Cutting here, not in the tokenizer, keeps a
very long text to one encoding instead of one per window.
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
    ) -> None:
        from tokenizers import Tokenizer

        self._tokenizer: Any = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.max_length = max_length
        room = max_length - int(self._tokenizer.num_special_tokens_to_add(False))
        self._room = max(1, room)
        # Windows must advance: the overlap stays below half a window's text.
        self.stride = max(0, min(stride, self._room // 2))

    def segment(self, texts: Sequence[str], policy: Policy) -> list[Segmented]:
        if len(texts) == 1:
            encodings = [self._tokenizer.encode(texts[0])]
        else:
            encodings = self._tokenizer.encode_batch(list(texts))
        return [self._one(encoding, policy) for encoding in encodings]

    def _one(self, encoding: Any, policy: Policy) -> Segmented:
        ids: list[int] = encoding.ids
        if len(ids) <= self.max_length:
            return Segmented([ids], len(ids), False)
        special = encoding.special_tokens_mask
        head = _run_length(special)
        tail = _run_length(special[::-1]) if head < len(ids) else 0
        prefix, body, suffix = ids[:head], ids[head : len(ids) - tail], ids[len(ids) - tail :]
        room = self._room
        if policy == "chunk":
            step = room - self.stride
            starts = range(0, max(1, len(body) - self.stride), step)
            windows = [prefix + body[i : i + room] + suffix for i in starts]
            return Segmented(windows, len(ids), False)
        kept = body[-room:] if policy == "left" else body[:room]
        return Segmented([prefix + kept + suffix], len(ids), True)


def _run_length(flags: Sequence[int]) -> int:
    """How many leading entries are 1."""
    count = 0
    for flag in flags:
        if not flag:
            break
        count += 1
    return count
