"""Texts to the token windows the model sees, under a long-text policy.

One tokenizer pass per text, without truncation, gives its full token count; a text longer
than the model takes is then cut here: its special tokens (the `[CLS] ... [SEP]` or `<s> ...
</s>` the tokenizer's post-processor puts around a single text) are kept, and the text between
them keeps its start (`right`), its end (`left`), or is split into windows of the model's
length overlapping by `stride` tokens (`chunk`), each wrapped in the same special tokens, as
Hugging Face tokenizers' overflowing windows are. Cutting here, not in the tokenizer, keeps a
very long text to one encoding instead of one per window.

A sentence pair (`Pair`: natural-language inference, paraphrase, a cross-encoder's query and
document) is one sequence to the model, `[CLS] a [SEP] b [SEP]` with token type ids 0 then 1
(whatever the tokenizer's post-processor makes of a pair). One too long is cut by the
tokenizer's own pair truncation, exactly as Hugging Face's `tokenizer(a, b, truncation=...)`
cuts it: `longest_first` (a token at a time from the longer of the two) or `only_second`, on
the side the policy names (`left`, else right); `chunk` cuts a pair as `right` does, and
`error` refuses it. Its windows are `TypedIds`, which carry the type ids to the batcher.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Policy = Literal["right", "left", "error", "chunk"]
POLICIES: tuple[Policy, ...] = ("right", "left", "error", "chunk")
PairTruncation = Literal["longest_first", "only_second"]
PAIR_TRUNCATIONS: tuple[PairTruncation, ...] = ("longest_first", "only_second")


class UncuttablePair(ValueError):
    """A pair too long for the model that its truncation strategy cannot cut (`only_second`
    with a first text longer than the model takes). The core refuses the request for it."""


@dataclass(frozen=True, slots=True)
class Pair:
    """Two texts the model reads together; `truncation` says how to cut one too long."""

    text: str
    text_pair: str
    truncation: PairTruncation = "longest_first"

    def __len__(self) -> int:
        """Characters, as a text's length counts them (the predictor's inline-tokenize test)."""
        return len(self.text) + len(self.text_pair)


Item = str | Pair
"""What the model classifies: one text, or a pair of them."""


class TypedIds(list[int]):
    """A pair's token ids, carrying each token's type id (segment) to the batcher's padding."""

    __slots__ = ("type_ids",)

    def __init__(self, ids: Sequence[int], type_ids: Sequence[int]) -> None:
        super().__init__(ids)
        self.type_ids = list(type_ids)


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

        self._file = str(tokenizer_file)
        self._tokenizer: Any = Tokenizer.from_file(self._file)
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        # Pair truncation is the tokenizer's; one configured tokenizer per (strategy, side),
        # made on first use (tokenizer threads share them; setting truncation per call is not
        # thread-safe).
        self._pair_cutters: dict[tuple[PairTruncation, str], Any] = {}
        self._lock = threading.Lock()
        self.max_length = max_length
        room = max_length - int(self._tokenizer.num_special_tokens_to_add(False))
        self._room = max(1, room)
        # Windows must advance: the overlap stays below half a window's text.
        self.stride = max(0, min(stride, self._room // 2))

    def segment(self, texts: Sequence[Item], policy: Policy) -> list[Segmented]:
        if len(texts) == 1:
            first = texts[0]
            encodings = [
                self._tokenizer.encode(first)
                if isinstance(first, str)
                else self._tokenizer.encode(first.text, first.text_pair)
            ]
        else:
            encodings = self._tokenizer.encode_batch(
                [t if isinstance(t, str) else (t.text, t.text_pair) for t in texts]
            )
        return [
            self._one(encoding, policy)
            if isinstance(text, str)
            else self._pair(text, encoding, policy)
            for text, encoding in zip(texts, encodings, strict=True)
        ]

    def _pair(self, pair: Pair, encoding: Any, policy: Policy) -> Segmented:
        ids: list[int] = encoding.ids
        if len(ids) <= self.max_length:
            return Segmented([TypedIds(ids, encoding.type_ids)], len(ids), False)
        if policy == "error":
            return Segmented([TypedIds(ids, encoding.type_ids)], len(ids), True)
        cutter = self._pair_cutter(pair.truncation, "left" if policy == "left" else "right")
        try:
            cut = cutter.encode(pair.text, pair.text_pair)
        except Exception as exc:  # `tokenizers` raises a bare Exception for an impossible cut
            raise UncuttablePair(
                f"a pair of {len(ids)} tokens cannot be cut to {self.max_length} with "
                f"truncation {pair.truncation} ({exc})"
            ) from None
        return Segmented([TypedIds(cut.ids, cut.type_ids)], len(ids), True)

    def _pair_cutter(self, strategy: PairTruncation, side: str) -> Any:
        key = (strategy, side)
        cutter = self._pair_cutters.get(key)
        if cutter is None:
            from tokenizers import Tokenizer

            with self._lock:
                cutter = Tokenizer.from_file(self._file)
                cutter.no_padding()
                cutter.enable_truncation(self.max_length, strategy=strategy, direction=side)
                self._pair_cutters[key] = cutter
        return cutter

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
