"""Queued texts grouped by token count, and how a batch is taken from them.

Each request's texts wait in the group of their token count: groups are 2 tokens wide up to 64
tokens, 4 wide up to 128, then about an eighth of the length. `take` starts from the group
holding the oldest text and fills a batch from it and then from the nearest groups, shorter
down to texts over half as long (so padding at most doubles a text) and longer up to a quarter
more, until the padded-token budget (`longest × count`) or the batch size is reached. Narrow
groups keep the padding low: with 8-token groups, batches formed from ~30 queued headlines
(7-16 tokens) padded 26% more tokens than they held; with these, 13%, in batches as large
(measured through the server, docs/serving.md).

Texts of requests that already ended (deadline passed, failed) are dropped as they surface.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np


def bucket_lengths(max_length: int) -> list[int]:
    """Padded sequence lengths: steps of 8 up to 64, then ×1.5 steps, capped at max_length.

    Finite, so warm-up can visit every one, and a GPU that pads a batch up to one of them
    (`pad_to_bucket`) sees few distinct shapes.
    """
    lengths: list[int] = []
    length = 8
    while length < max_length:
        lengths.append(length)
        length = length + 8 if length < 64 else int(length * 1.5) // 8 * 8
    lengths.append(max_length)
    return lengths


def group_lengths(max_length: int) -> list[int]:
    """The queue's groups (each named by the longest count it holds), up to max_length."""
    lengths: list[int] = []
    length = 2
    while length < max_length:
        lengths.append(length)
        if length < 64:
            length += 2
        elif length < 128:
            length += 4
        else:
            length = (length * 9 // 8 + 7) // 8 * 8
    lengths.append(max_length)
    return lengths


def _round_up(lengths: Sequence[int], length: int) -> int:
    """The first of the sorted `lengths` at least `length` (the last one beyond them)."""
    return lengths[min(bisect.bisect_left(lengths, length), len(lengths) - 1)]


def _nearest_first(lengths: Sequence[int], n: int) -> list[int]:
    """The groups whose texts may join a batch led by group `n`: itself, then the others
    nearest (then shorter) first, from over half its length (padding at most doubles a text)
    up to a quarter longer (at least 2 tokens): with few texts queued, a slightly longer one
    is better company than none."""
    company = [m for m in lengths if m * 2 > n and m <= n + max(2, n // 4)]
    return sorted(company, key=lambda m: (abs(m - n), m))


class Pending:
    """One request's texts on their way through the queue; await `future` for the probabilities."""

    __slots__ = (
        "enqueued_at",
        "future",
        "inference_s",
        "last_batch",
        "probs",
        "queue_s",
        "remaining",
    )

    def __init__(self, future: asyncio.Future[np.ndarray], count: int, labels: int) -> None:
        self.future = future
        self.probs = np.empty((count, labels), dtype=np.float32)
        self.remaining = count
        self.enqueued_at = time.perf_counter()
        self.queue_s = 0.0
        self.inference_s = 0.0
        self.last_batch = -1


class QueuedText:
    __slots__ = ("ids", "index", "length", "pending")

    def __init__(self, pending: Pending, index: int, ids: Sequence[int]) -> None:
        self.pending = pending
        self.index = index
        self.ids = ids
        self.length = len(ids)


class LengthQueue:
    def __init__(self, max_length: int, max_batch_tokens: int, max_batch_size: int) -> None:
        self.lengths = group_lengths(max_length)
        self._padded_lengths = bucket_lengths(max_length)
        self._buckets: dict[int, deque[QueuedText]] = {n: deque() for n in self.lengths}
        self._company = {n: _nearest_first(self.lengths, n) for n in self.lengths}
        self._max_tokens = max_batch_tokens
        self._max_size = max_batch_size
        self.size = 0
        """Texts queued, counting those of ended requests not yet dropped."""

    def bucket_of(self, length: int) -> int:
        """The padded length for a batch whose longest text has `length` tokens."""
        return _round_up(self._padded_lengths, length)

    def put(self, pending: Pending, token_ids: Sequence[Sequence[int]]) -> None:
        for index, ids in enumerate(token_ids):
            text = QueuedText(pending, index, ids)
            self._buckets[_round_up(self.lengths, text.length)].append(text)
        self.size += len(token_ids)

    def oldest(self) -> float | None:
        """When the oldest queued text of a request still waiting arrived (perf_counter)."""
        for queue in self._buckets.values():
            self._purge_head(queue)  # an ended request's text must not shorten anyone's wait
        return min((q[0].pending.enqueued_at for q in self._buckets.values() if q), default=None)

    def _purge_head(self, queue: deque[QueuedText]) -> None:
        while queue and queue[0].pending.future.done():
            queue.popleft()
            self.size -= 1

    def take(self) -> list[QueuedText]:
        first: int | None = None
        # Longest first: of texts queued at the same moment (one request's), the longest leads
        # its batch, so the shorter ones can join it.
        for length, queue in reversed(self._buckets.items()):
            if not queue:
                continue
            self._purge_head(queue)
            if queue and (
                first is None
                or queue[0].pending.enqueued_at < self._buckets[first][0].pending.enqueued_at
            ):
                first = length
        if first is None:
            return []
        batch: list[QueuedText] = []
        # The oldest request's texts first, from every group of its company, then anyone's:
        # filled group by group alone, a batch took two or three texts of the oldest
        # 64-text request and the rest from newer ones of the same lengths, so under load every
        # request finished late together (p99 2.5x the queue's expected wait).
        oldest = self._buckets[first][0].pending.enqueued_at
        longest = self._fill(batch, first, 0, oldest)
        if len(batch) < self._max_size:
            self._fill(batch, first, longest, None)
        self.size -= len(batch)
        return batch

    def _fill(
        self, batch: list[QueuedText], first: int, longest: int, arrived_by: float | None
    ) -> int:
        """Add texts from the company of group `first`, nearest first, while they fit (of
        requests that arrived by `arrived_by`, when given); the batch's longest text."""
        for length in self._company[first]:
            queue = self._buckets[length]
            while queue:
                text = queue[0]
                if text.pending.future.done():
                    queue.popleft()
                    self.size -= 1
                    continue
                if arrived_by is not None and text.pending.enqueued_at > arrived_by:
                    break  # the rest of this group came later still
                new_longest = max(longest, text.length)
                if len(batch) >= self._max_size or (
                    batch and new_longest * (len(batch) + 1) > self._max_tokens
                ):
                    break
                batch.append(queue.popleft())
                longest = new_longest
            if len(batch) >= self._max_size:
                break
        return longest

    def clear(self) -> Iterator[QueuedText]:
        """Empty the queue, yielding every text that was in it."""
        for queue in self._buckets.values():
            while queue:
                yield queue.popleft()
        self.size = 0
