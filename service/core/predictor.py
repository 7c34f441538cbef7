"""The predictor: texts in, labelled scores out, through the tokenizer, the length queue and the
batcher. No HTTP here; errors are the core's own (service/core/errors.py).

Loading and warm-up run in the background so the socket accepts connections at once; `ready`
says when to answer `/ping` with 200. State moves loading -> ready -> draining, or to failed,
never back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from service.backend.artifact import ArtifactError, Manifest
from service.backend.plan import BatchLimits, ExecutionPlan
from service.backend.segmenter import Item, Policy, Segmented, UncuttablePair
from service.core.batcher import Batcher, BatchObserver
from service.core.errors import (
    ClientGone,
    DeadlineExceeded,
    NotReady,
    ServingError,
    TextTooLong,
)
from service.core.length_queue import bucket_lengths
from service.core.retry_hold import RetryHold

log = logging.getLogger(__name__)

# Below this many characters a request is tokenized inline: a thread hop costs more than the
# tokenizer (a headline takes ~20 µs). Larger requests go to the tokenizer threads.
INLINE_TOKENIZE_CHARS = 2000

Status = Literal["loading", "ready", "failed", "draining"]


class Model(Protocol):
    """What the predictor needs from a backend (OnnxBackend; tests may pass their own)."""

    manifest: Manifest
    labels: list[str]
    provider: str

    @property
    def precision(self) -> str:
        """The ONNX variant really served."""
        ...

    @property
    def device(self) -> Literal["cpu", "cuda"]: ...
    def segment(self, texts: Sequence[Item], policy: Policy) -> list[Segmented]: ...
    @property
    def pad_id(self) -> int: ...
    def run(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> np.ndarray: ...
    def warm_up(
        self, lengths: Sequence[int], max_batch_size: int, max_batch_tokens: int
    ) -> float: ...


class PredictorObserver(BatchObserver, Protocol):
    """What the predictor reports (service.metrics.Metrics implements it)."""

    def tokenized(self, seconds: float) -> None: ...
    def text_lengths(self, lengths: Sequence[int], truncated: int) -> None: ...
    def predicted(self, labels: Sequence[str], scores: np.ndarray) -> None: ...
    def queued(self, seconds: float) -> None: ...
    def model_loaded(self, manifest: Manifest, provider: str, precision: str) -> None: ...
    def readiness(self, ready: bool) -> None: ...
    def memory(self, parts_mb: Mapping[str, float]) -> None:
        """Where this worker's resident memory went while loading (service/memory.py)."""


class Readiness(Protocol):
    """Readiness across worker processes (service.worker_board.WorkerBoard)."""

    def post_ready(self) -> None: ...
    def withdraw(self) -> None: ...
    def all_ready(self) -> bool: ...


@dataclass(slots=True)
class Predictions:
    """One request's answer: `scores[i, j]` is text i's score for `labels[j]` (probabilities
    that sum to 1 for a single-label model, independent ones when `multi_label`)."""

    labels: Sequence[str]
    scores: np.ndarray
    multi_label: bool
    texts: list[Segmented]
    """Per text: its token count, whether it was truncated, its windows."""
    tokenize_s: float
    queue_s: float
    inference_s: float

    @property
    def truncated(self) -> int:
        return sum(text.truncated for text in self.texts)


def aggregate(scores: np.ndarray, windows: Sequence[int], multi_label: bool) -> np.ndarray:
    """One row per text from one row per window: the mean of the probabilities for a
    single-label model, the highest score per label for a multi-label one."""
    if all(n == 1 for n in windows):
        return scores
    starts = np.cumsum([0, *windows[:-1]])
    if multi_label:
        return np.maximum.reduceat(scores, starts, axis=0)
    sums = np.add.reduceat(scores, starts, axis=0)
    return (sums / np.asarray(windows, dtype=np.float32)[:, None]).astype(np.float32)


def _speed(model: Model, limits: BatchLimits, length: int = 16) -> float:
    """Texts per second through the model in full batches of short texts: where the shedding
    estimate starts before any request has run."""
    size = max(1, min(limits.max_batch_size, limits.max_batch_tokens // length))
    ids = np.full((size, length), model.pad_id, dtype=np.int64)
    started = time.perf_counter()
    for _ in range(3):
        model.run(ids, np.ones_like(ids))
    return 3 * size / max(time.perf_counter() - started, 1e-6)


WATCH_AFTER_S = 0.25
"""A request expected to wait longer than this in the queue is watched for its client leaving."""


async def _unless_gone(
    future: asyncio.Future[np.ndarray],
    deadline: float,
    gone: Callable[[], Awaitable[object]] | None,
    batcher: Batcher,
) -> np.ndarray:
    """The future's result by `deadline` (else TimeoutError); ClientGone, with the future
    cancelled so its texts leave the queue, when `gone` returns first. A retry storm's clients
    left behind up to a queue's worth of work that ran for nobody after the storm. Only a
    request that will wait is watched: the watcher costs a task."""
    timeout = deadline - time.perf_counter()
    if gone is None or batcher.expected_wait_s() < WATCH_AFTER_S:
        return await asyncio.wait_for(future, timeout)
    watcher = asyncio.ensure_future(gone())
    try:
        await asyncio.wait((future, watcher), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if future.done():
        return future.result()
    future.cancel()
    if watcher.done() and not watcher.cancelled():
        raise ClientGone("the client closed its connection while its texts waited")
    raise TimeoutError


class Predictor:
    def __init__(
        self,
        plan: ExecutionPlan,
        load_model: Callable[[], Model],
        observer: PredictorObserver,
        *,
        request_timeout_s: float,
        drain_timeout_s: float,
        readiness: Readiness | None = None,
        truncation: Policy | None = None,
    ) -> None:
        self.plan = plan
        self.truncation = truncation
        """The server's long-text policy; None: the side the model's tokenizer truncates."""
        self.status: Status = "loading"
        self.error = ""
        self._model: Model | None = None
        self.batcher: Batcher | None = None
        self._load_model = load_model
        self._observer = observer
        self._request_timeout_s = request_timeout_s
        self._drain_timeout_s = drain_timeout_s
        self._board = readiness
        self.retry_hold = RetryHold()
        """Refusals of clients that retry before Retry-After, held (service/core/retry_hold.py)."""
        self._inference = ThreadPoolExecutor(1, thread_name_prefix="inference")
        self._tokenizers = ThreadPoolExecutor(
            min(4, plan.usable_cores), thread_name_prefix="tokenize"
        )

    @property
    def ready(self) -> bool:
        return (
            self.status == "ready"
            and self.batcher is not None
            and self.batcher.healthy
            and (self._board is None or self._board.all_ready())
        )

    @property
    def labels(self) -> list[str]:
        return self._model.labels if self._model is not None else []

    @property
    def manifest(self) -> Manifest | None:
        """The served model's manifest, once loaded (its name, whether it takes pairs)."""
        return self._model.manifest if self._model is not None else None

    def not_ready_reason(self) -> str:
        if self.status == "ready":
            if self.batcher is not None and self.batcher.healthy:
                return "other worker processes are still loading the model"
            return "the batcher stopped; see the server log"
        return {"loading": "the model is loading", "draining": "the server is draining"}.get(
            self.status, f"the model cannot be served: {self.error}"
        )

    async def load(self) -> None:
        """Load, check and warm the model on the inference thread, then start batching."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        limits = self.plan.batch
        try:
            model = await loop.run_in_executor(self._inference, self._load_model)
            lengths = bucket_lengths(model.manifest.max_length)
            warm_s = await loop.run_in_executor(
                self._inference,
                model.warm_up,
                lengths,
                limits.max_batch_size,
                limits.max_batch_tokens,
            )
            speed = await loop.run_in_executor(self._inference, _speed, model, limits)
        except ArtifactError as exc:
            self.status, self.error = "failed", str(exc)
            log.error("cannot serve the artifact: %s", exc)
            return
        except Exception as exc:
            self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("loading the model failed")
            return
        self.batcher = Batcher(
            model.run,
            self._inference,
            limits,
            max_length=model.manifest.max_length,
            labels=len(model.labels),
            pad_id=model.pad_id,
            observer=self._observer,
        )
        self.batcher.seed_speed(speed)
        self.batcher.start()
        self._model = model
        if self.status == "loading":
            self.status = "ready"
        self._observer.model_loaded(model.manifest, model.provider, model.precision)
        self._observer.memory(getattr(model, "memory_mb", {}))
        self._observer.readiness(True)
        if self._board is not None:
            self._board.post_ready()
        log.info(
            "ready in %.1f s (warm-up of %d length buckets %.1f s)",
            time.perf_counter() - started,
            len(lengths),
            warm_s,
        )

    async def predict(
        self,
        texts: Sequence[Item],
        deadline: float,
        truncation: Policy | None = None,
        *,
        arrival_admitted: bool = False,
        gone: Callable[[], Awaitable[object]] | None = None,
    ) -> Predictions:
        """Tokenize under the long-text policy (the request's, else the server's), queue every
        window, wait for the scores until `deadline` (perf_counter), one row per text.
        `arrival_admitted`: `admit()` let the request in when it arrived (Batcher.admit).
        `gone`: returns when the client has closed its connection (then ClientGone)."""
        model, batcher = self._model, self.batcher
        # While draining, /ping is 503 but requests already on their way in are still served:
        # uvicorn has stopped accepting connections and reads no new request on open ones.
        if model is None or batcher is None or not batcher.healthy:
            self._observer.rejected("not_ready")
            raise NotReady(self.not_ready_reason())
        # Before tokenizing what would be refused.
        try:
            batcher.admit(len(texts), arrival_admitted=arrival_admitted)
        except ServingError:
            if arrival_admitted:
                batcher.arrival_refused()
            raise
        policy = truncation or self.truncation or model.manifest.truncation_side
        started = time.perf_counter()
        try:
            if sum(map(len, texts)) <= INLINE_TOKENIZE_CHARS:
                segmented = model.segment(texts, policy)
            else:
                segmented = await asyncio.get_running_loop().run_in_executor(
                    self._tokenizers, model.segment, texts, policy
                )
        except UncuttablePair as exc:
            raise TextTooLong(str(exc)) from None
        tokenize_s = time.perf_counter() - started
        self._observer.tokenized(tokenize_s)
        truncated = sum(text.truncated for text in segmented)
        # Under `error` nothing is cut: the request is refused.
        counted = 0 if policy == "error" else truncated
        self._observer.text_lengths([text.tokens for text in segmented], counted)
        if policy == "error" and truncated:
            index, text = next((i, t) for i, t in enumerate(segmented) if t.truncated)
            raise TextTooLong(
                f"text {index} has {text.tokens} tokens; the model takes at most "
                f"{model.manifest.max_length} (truncation: right, left or chunk accept it)"
            )
        windows = [len(text.windows) for text in segmented]
        token_ids = [ids for text in segmented for ids in text.windows]
        pending = batcher.submit(token_ids, arrival_admitted=arrival_admitted)
        try:
            scores = await _unless_gone(pending.future, deadline, gone, batcher)
        except TimeoutError:
            self._observer.rejected("deadline")
            raise DeadlineExceeded(
                f"no answer within the {self._request_timeout_s:g} s request deadline"
            ) from None
        multi_label = model.manifest.activation == "sigmoid"
        scores = aggregate(scores, windows, multi_label)
        self._observer.queued(pending.queue_s)
        self._observer.predicted(model.labels, scores)
        return Predictions(
            model.labels,
            scores,
            multi_label,
            segmented,
            tokenize_s,
            pending.queue_s,
            pending.inference_s,
        )

    def admit(self) -> None:
        """Raise now if no request could be taken (not ready, queue full or too slow): the API
        asks before it reads and parses a body, then predicts with `arrival_admitted`."""
        if self.batcher is None or not self.batcher.healthy:
            self._observer.rejected("not_ready")
            raise NotReady(self.not_ready_reason())
        self.batcher.admit(0)

    def begin_drain(self) -> None:
        if self.status in ("loading", "ready"):
            self.status = "draining"
            self._observer.readiness(False)
            log.info("draining: no new work; finishing what is queued")

    async def close(self) -> None:
        self.begin_drain()
        if self._board is not None:
            self._board.withdraw()
        if self.batcher is not None:
            await self.batcher.stop(self._drain_timeout_s)
        self._inference.shutdown(wait=True, cancel_futures=True)
        self._tokenizers.shutdown(wait=False, cancel_futures=True)
