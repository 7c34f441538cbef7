"""Dynamic batching: tokenized texts in, class probabilities out, no web framework.

Each request gets one future; its texts wait in a `LengthQueue`. The loop takes a batch
whenever the model is free (a slot of `pipeline_depth`), pads it and runs it on the one
inference thread. The exception is a lone request on CPU (`run_lone_inline`): when it finds
the model idle and nobody else arrives within one loop turn, it runs at once on the loop's
thread, which saves the batcher's wake-up and two thread hops (about a third of the server's
time for a lone headline). A failed batch fails only its requests; if the loop
itself dies, every waiter gets an error and `healthy` goes false.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Protocol

import numpy as np

from service.backend.plan import BatchLimits
from service.core.errors import InferenceFailed, NotReady, Overloaded, ServingError
from service.core.length_queue import LengthQueue, Pending, QueuedText

log = logging.getLogger(__name__)

ARRIVAL_HOLD_S = 1.0
"""How long a request let in on arrival (`admit(0)`) counts as work on its way in: until it is
submitted, or this long (a request refused for its body never comes back to say so)."""


class RunBatch(Protocol):
    """(input_ids, attention_mask[, token_type_ids]) int64 [batch, seq] -> scores float32
    [batch, labels]. token_type_ids only when the batch holds a sentence pair."""

    def __call__(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> np.ndarray: ...


class BatchObserver(Protocol):
    def batch_done(self, size: int, padded_tokens: int, seconds: float) -> None: ...
    def queue_depth(self, texts: int) -> None: ...
    def rejected(self, reason: str) -> None: ...
    def batch_failed(self) -> None: ...


class _NoObserver:
    def batch_done(self, size: int, padded_tokens: int, seconds: float) -> None:
        pass

    def queue_depth(self, texts: int) -> None:
        pass

    def rejected(self, reason: str) -> None:
        pass

    def batch_failed(self) -> None:
        pass


class Batcher:
    def __init__(
        self,
        run: RunBatch,
        executor: Executor,
        limits: BatchLimits,
        *,
        max_length: int,
        labels: int,
        pad_id: int = 0,
        observer: BatchObserver | None = None,
    ) -> None:
        self._run = run
        self._executor = executor
        self._limits = limits
        self._labels = labels
        self._pad_id = pad_id
        self._observer: BatchObserver = observer or _NoObserver()
        self._queue = LengthQueue(max_length, limits.max_batch_tokens, limits.max_batch_size)
        self._batch_ids = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._candidate: Pending | None = None  # a request that may run alone, a turn from now
        self._stopping = False
        self._texts_per_s = 0.0  # moving average of the model's speed, for early shedding
        # Requests let in on arrival whose texts are not queued yet (their bodies are still
        # being read and parsed): when they arrived, oldest first. Without them a burst read
        # in one loop turn all found the queue empty: 512 retrying connections queued 26,000
        # texts (40 s of work) and every request after the storm was shed until it drained.
        self._arriving: deque[float] = deque()
        self._texts_per_request = 1.0  # moving average over requests let in on arrival
        self._last_done = 0.0  # when the last batch's answers were handed back
        self._backlogged = False  # texts were waiting then

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done() and not self._stopping

    @property
    def queued_texts(self) -> int:
        return self._queue.size

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(self._limits.pipeline_depth)
        self._task = asyncio.create_task(self._loop(), name="batcher")
        # A death is logged and reported to waiters by the loop itself; mark it retrieved.
        self._task.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def stop(self, timeout_s: float) -> None:
        """Stop admitting, finish what is queued and running (up to timeout_s), then end."""
        self._stopping = True
        if self._task is None or self._task.done():
            return
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except TimeoutError:
            log.warning("drain took longer than %.1f s; failing what is left", timeout_s)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def seed_speed(self, texts_per_s: float) -> None:
        """The model's speed before any batch has run (timed at warm-up), so that a burst on a
        fresh server is judged too."""
        if self._texts_per_s <= 0 < texts_per_s:
            self._texts_per_s = texts_per_s

    def expected_wait_s(self, extra_texts: int = 0, *, arrived: bool = False) -> float:
        """Queued texts (plus `extra_texts`, plus the requests let in on arrival and not yet
        queued, at their usual size; `arrived`: but for the asking one) over the model's recent
        texts per second."""
        if self._texts_per_s <= 0:
            return 0.0
        arriving = max(0, len(self._arriving) - arrived) * self._texts_per_request
        return (self._queue.size + arriving + extra_texts) / self._texts_per_s

    def _expire_arrivals(self) -> None:
        horizon = time.monotonic() - ARRIVAL_HOLD_S
        arriving = self._arriving
        while arriving and arriving[0] < horizon:
            arriving.popleft()

    def arrival_refused(self) -> None:
        """A request let in on arrival was refused once its size was known."""
        if self._arriving:
            self._arriving.popleft()

    def _arrived(self, texts: int) -> None:
        """A request let in on arrival is queued now: its texts count in the queue instead."""
        if self._arriving:
            self._arriving.popleft()
        self._texts_per_request += 0.1 * (texts - self._texts_per_request)

    def admit(self, texts: int, *, arrival_admitted: bool = False) -> None:
        """Raise at once when a request of `texts` texts would be refused: cheap, so callers
        ask before parsing and tokenizing what would only be thrown away.

        `arrival_admitted`: the work queued ahead was judged when the request arrived, before
        its body was read (`admit(0)`); it is not judged again, so a request let in then is
        not refused for the queue that grew while its body came in, after the work of
        reading and parsing it. Every shed for the queue ahead is then an answer before the
        body."""
        if self._task is None or self._task.done() or self._stopping:
            self._observer.rejected("not_ready")
            raise NotReady(
                "the server is draining" if self._stopping else "the batcher is not running"
            )
        limits = self._limits
        if self._queue.size + texts > limits.max_queue_texts:
            self._observer.rejected("queue_full")
            raise Overloaded(
                f"{self._queue.size} texts already queued (limit {limits.max_queue_texts}); retry shortly"
            )
        self._expire_arrivals()
        ahead = self.expected_wait_s(arrived=arrival_admitted)
        if not arrival_admitted and limits.max_wait_ahead_s and ahead > limits.max_wait_ahead_s:
            self._observer.rejected("queue_wait")
            raise Overloaded(
                f"about {ahead * 1000:.0f} ms of work is queued ahead, more than the "
                f"{limits.max_wait_ahead_s * 1000:g} ms a request may wait; retry shortly"
            )
        if texts == 0 and not arrival_admitted:
            self._arriving.append(time.monotonic())  # let in on arrival, its body to come
        wait = self.expected_wait_s(texts, arrived=arrival_admitted)
        # With nothing ahead, shedding would spare nobody: the deadline judges the request.
        if limits.max_queue_wait_s and ahead > 0 and wait > limits.max_queue_wait_s:
            self._observer.rejected("queue_wait")
            raise Overloaded(
                f"about {wait:.0f} s of work is queued, more than the {limits.max_queue_wait_s:g} s "
                "a request may wait; retry shortly"
            )

    def submit(
        self, token_ids: Sequence[Sequence[int]], *, arrival_admitted: bool = False
    ) -> Pending:
        """Queue one request's tokenized texts; raises at once when the server cannot take it."""
        if arrival_admitted:
            self._arrived(len(token_ids))
        self.admit(len(token_ids), arrival_admitted=arrival_admitted)
        loop = asyncio.get_running_loop()
        pending = Pending(loop.create_future(), len(token_ids), self._labels)
        if not token_ids:
            pending.future.set_result(pending.probs)
            return pending
        if self._may_run_alone(token_ids):
            self._candidate = pending
            loop.call_soon(self._run_alone_or_queue, pending, token_ids)
            return pending
        self._enqueue(pending, token_ids)
        return pending

    def _enqueue(self, pending: Pending, token_ids: Sequence[Sequence[int]]) -> None:
        self._queue.put(pending, token_ids)
        self._observer.queue_depth(self._queue.size)
        assert self._wakeup is not None
        self._wakeup.set()

    def _may_run_alone(self, token_ids: Sequence[Sequence[int]]) -> bool:
        """The model is idle, nothing waits and the request fits one batch."""
        limits = self._limits
        return (
            limits.run_lone_inline
            and self._candidate is None
            and self._queue.size == 0
            and not self._inflight
            and len(token_ids) <= limits.max_batch_size
            and max(map(len, token_ids)) * len(token_ids) <= limits.max_batch_tokens
        )

    def _run_alone_or_queue(self, pending: Pending, token_ids: Sequence[Sequence[int]]) -> None:
        """One loop turn after `submit`. Requests read in the same turn have queued by now; if
        none did, run this one at once on the loop's thread (a lone request's latency: no
        batcher wake-up, no thread hop). If some did, join them and be batched: under load a
        request never runs alone, so batching keeps its throughput."""
        self._candidate = None
        if pending.future.done():  # its deadline passed meanwhile
            return
        if (self._queue.size or self._inflight) and not self._stopping:
            self._enqueue(pending, token_ids)
            return
        batch = [QueuedText(pending, index, ids) for index, ids in enumerate(token_ids)]
        try:
            ran = self._infer(batch)
        except Exception as exc:
            self._failed(batch, exc)
            return
        self._done(batch, ran)

    async def _loop(self) -> None:
        assert self._wakeup is not None and self._slots is not None
        try:
            while True:
                if self._queue.size == 0:
                    if self._stopping:
                        break
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._slots.acquire()
                await self._hold_for_company()
                batch = self._take()
                if not batch:
                    self._slots.release()
                    continue
                task = asyncio.create_task(self._run_batch(batch))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                log.critical("batcher died: %r; failing every waiting request", exc)
            self._fail_everything(exc)
            raise

    async def _hold_for_company(self) -> None:
        """While the budget is not full, let the oldest text wait up to max_wait for others."""
        wait = self._limits.max_wait_s
        if wait <= 0 or self._stopping or self._queue.size >= self._limits.max_batch_size:
            return
        oldest = self._queue.oldest()
        if oldest is not None and (delay := oldest + wait - time.perf_counter()) > 0:
            await asyncio.sleep(delay)

    def _take(self) -> list[QueuedText]:
        batch = self._queue.take()
        self._observer.queue_depth(self._queue.size)
        return batch

    def _pad(self, batch: list[QueuedText]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        longest = max(t.length for t in batch)
        if self._limits.pad_to_bucket:
            longest = self._queue.bucket_of(longest)
        ids = np.full((len(batch), longest), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), longest), dtype=np.int64)
        types: np.ndarray | None = None  # only for a batch holding a pair (TypedIds)
        for row, text in enumerate(batch):
            ids[row, : text.length] = text.ids
            mask[row, : text.length] = 1
            type_ids = getattr(text.ids, "type_ids", None)
            if type_ids is not None:
                if types is None:
                    types = np.zeros_like(ids)
                types[row, : text.length] = type_ids
        return ids, mask, types

    async def _run_batch(self, batch: list[QueuedText]) -> None:
        assert self._slots is not None
        try:
            loop = asyncio.get_running_loop()
            try:
                ran = await loop.run_in_executor(self._executor, self._infer, batch)
            except Exception as exc:
                self._failed(batch, exc)
                return
            self._done(batch, ran)
        finally:
            self._slots.release()

    def _infer(self, batch: list[QueuedText]) -> tuple[int, np.ndarray, float, float]:
        """Pad and run a batch (on whichever thread runs it): padded tokens, probabilities,
        when the model started and how long it took."""
        ids, mask, types = self._pad(batch)
        started = time.perf_counter()
        probs = self._run(ids, mask) if types is None else self._run(ids, mask, types)
        return int(ids.size), probs, started, time.perf_counter() - started

    def _failed(self, batch: list[QueuedText], exc: Exception) -> None:
        log.error("batch of %d texts failed: %r", len(batch), exc)
        self._observer.batch_failed()
        self._fail(batch, InferenceFailed(f"inference failed: {type(exc).__name__}"))

    def _done(self, batch: list[QueuedText], ran: tuple[int, np.ndarray, float, float]) -> None:
        padded_tokens, probs, started, seconds = ran
        self._observer.batch_done(len(batch), padded_tokens, seconds)
        # The speed that predicts a wait is the one the queue drains at, on the wall clock:
        # when this batch waited for the one before, from that one's end to this one's, with
        # the loop's own delays (under a storm of refusals the model alone ran ~2x faster
        # than the queue drained, and requests let in for 2 s of work waited 4-5 s).
        now = time.perf_counter()
        span = now - (self._last_done if self._backlogged else started)
        self._last_done, self._backlogged = now, self._queue.size > 0
        rate = len(batch) / max(span, seconds, 1e-6)
        self._texts_per_s = rate if self._texts_per_s == 0 else 0.8 * self._texts_per_s + 0.2 * rate
        self._deliver(batch, probs, next(self._batch_ids), started, seconds)

    def _deliver(
        self,
        batch: list[QueuedText],
        probs: np.ndarray,
        batch_id: int,
        started: float,
        seconds: float,
    ) -> None:
        for row, text in enumerate(batch):
            pending = text.pending
            if pending.future.done():
                continue
            pending.probs[text.index] = probs[row]
            pending.queue_s = max(pending.queue_s, started - pending.enqueued_at)
            if pending.last_batch != batch_id:
                pending.last_batch = batch_id
                pending.inference_s += seconds
            pending.remaining -= 1
            if pending.remaining == 0:
                pending.future.set_result(pending.probs)

    @staticmethod
    def _fail(batch: list[QueuedText], error: ServingError) -> None:
        for text in batch:
            if not text.pending.future.done():
                text.pending.future.set_exception(error)

    def _fail_everything(self, exc: BaseException) -> None:
        error = NotReady(f"the batcher stopped ({type(exc).__name__}); retry on another instance")
        self._fail(list(self._queue.clear()), error)
        self._observer.queue_depth(0)
