"""What the app's lifespan owns: the backend, the batcher, their threads, and readiness.

Loading and warm-up run in the background so the socket accepts connections at once; `/ping`
reads `ready`. Serving state moves loading -> ready -> draining, or to failed, never back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from service.backend.artifact import ArtifactError, Manifest
from service.core.batcher import Batcher, Limits, RunBatch
from service.core.errors import DeadlineExceeded, NotReady
from service.core.length_queue import bucket_lengths
from service.metrics import Metrics
from service.settings import BatchShape, Settings
from service.worker_board import WorkerBoard

log = logging.getLogger(__name__)

# Below this many characters a request is tokenized inline: a thread hop costs more than the
# tokenizer (a headline takes ~20 µs). Larger requests go to the tokenizer threads.
INLINE_TOKENIZE_CHARS = 2000

Status = Literal["loading", "ready", "failed", "draining"]


class Model(Protocol):
    """What the runtime needs from a backend (OnnxBackend; tests may pass their own)."""

    manifest: Manifest
    labels: list[str]
    provider: str

    @property
    def device(self) -> Literal["cpu", "cuda"]: ...
    def encode(self, texts: Sequence[str]) -> list[list[int]]: ...
    @property
    def pad_id(self) -> int: ...
    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...
    def warm_up(
        self, lengths: Sequence[int], max_batch_size: int, max_batch_tokens: int
    ) -> float: ...


@dataclass(slots=True)
class Prediction:
    probs: np.ndarray
    tokenize_s: float
    queue_s: float
    inference_s: float


def _load_onnx(settings: Settings) -> Model:
    from service.backend.session import OnnxBackend

    return OnnxBackend(
        settings.model_dir,
        device=settings.device,
        precision=settings.precision,
        intra_op_threads=settings.resolved_intra_op_threads(),
        spin_wait=settings.spin_wait,
    )


class Runtime:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        load_model: Callable[[Settings], Model] = _load_onnx,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.status: Status = "loading"
        self.error = ""
        self.model: Model | None = None
        self.batcher: Batcher | None = None
        self._load_model = load_model
        self._inference = ThreadPoolExecutor(1, thread_name_prefix="inference")
        self._board = WorkerBoard.from_env(settings.workers)
        self._tokenizers = ThreadPoolExecutor(
            min(4, os.cpu_count() or 1), thread_name_prefix="tokenize"
        )

    @property
    def ready(self) -> bool:
        return (
            self.status == "ready"
            and self.batcher is not None
            and self.batcher.healthy
            and (self._board is None or self._board.all_ready())
        )

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
        try:
            model = await loop.run_in_executor(self._inference, self._load_model, self.settings)
            shape = BatchShape(self.settings, model.device)
            lengths = bucket_lengths(model.manifest.max_length)
            warm_s = await loop.run_in_executor(
                self._inference,
                model.warm_up,
                lengths,
                shape.max_batch_size,
                shape.max_batch_tokens,
            )
        except ArtifactError as exc:
            self.status, self.error = "failed", str(exc)
            log.error("cannot serve the artifact: %s", exc)
            return
        except Exception as exc:
            self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("loading the model failed")
            return
        limits = Limits(
            max_batch_tokens=shape.max_batch_tokens,
            max_batch_size=shape.max_batch_size,
            max_wait_s=shape.max_wait_s,
            max_queue_texts=self.settings.max_queue_texts,
            # Shed what would wait past 80% of its deadline: it would only time out later.
            max_queue_wait_s=0.8 * self.settings.request_timeout_s,
            pad_to_bucket=shape.pad_to_bucket,
            pipeline_depth=2 if model.device == "cuda" else 1,
        )
        run: RunBatch = model.run
        self.batcher = Batcher(
            run,
            self._inference,
            limits,
            max_length=model.manifest.max_length,
            labels=len(model.labels),
            pad_id=model.pad_id,
            observer=self.metrics,
        )
        self.batcher.start()
        self.model = model
        if self.status == "loading":
            self.status = "ready"
        manifest = model.manifest
        self.metrics.model_loaded(
            manifest.model_version, model.labels, model.provider, manifest.max_length
        )
        self.metrics.ready.set(1)
        if self._board is not None:
            self._board.post_ready()
        log.info(
            "ready in %.1f s (warm-up of %d length buckets %.1f s): batch <= %d texts / %d tokens, wait %.1f ms",
            time.perf_counter() - started,
            len(lengths),
            warm_s,
            limits.max_batch_size,
            limits.max_batch_tokens,
            limits.max_wait_s * 1000,
        )

    async def predict(self, texts: list[str], deadline: float) -> Prediction:
        """Tokenize, queue, and wait for the probabilities until `deadline` (perf_counter)."""
        model, batcher = self.model, self.batcher
        # While draining, /ping is 503 but requests already on their way in are still served:
        # uvicorn has stopped accepting connections and reads no new request on open ones.
        if model is None or batcher is None or not batcher.healthy:
            self.metrics.rejected("not_ready")
            raise NotReady(self.not_ready_reason())
        started = time.perf_counter()
        if sum(map(len, texts)) <= INLINE_TOKENIZE_CHARS:
            token_ids = model.encode(texts)
        else:
            token_ids = await asyncio.get_running_loop().run_in_executor(
                self._tokenizers, model.encode, texts
            )
        tokenize_s = time.perf_counter() - started
        self.metrics.tokenize_seconds.observe(tokenize_s)
        pending = batcher.submit(token_ids)
        try:
            probs = await asyncio.wait_for(pending.future, deadline - time.perf_counter())
        except TimeoutError:
            self.metrics.rejected("deadline")
            raise DeadlineExceeded(
                f"no answer within the {self.settings.request_timeout_s:g} s request deadline"
            ) from None
        self.metrics.queue_seconds.observe(pending.queue_s)
        return Prediction(probs, tokenize_s, pending.queue_s, pending.inference_s)

    def begin_drain(self) -> None:
        if self.status in ("loading", "ready"):
            self.status = "draining"
            self.metrics.ready.set(0)
            log.info("draining: no new work; finishing what is queued")

    async def close(self) -> None:
        self.begin_drain()
        if self._board is not None:
            self._board.withdraw()
        if self.batcher is not None:
            await self.batcher.stop(self.settings.drain_timeout_s)
        self._inference.shutdown(wait=True, cancel_futures=True)
        self._tokenizers.shutdown(wait=False, cancel_futures=True)
