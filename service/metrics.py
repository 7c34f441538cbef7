"""Prometheus metrics on an app-owned registry, served at /metrics on the serving port.

Buckets are chosen for this workload: latencies from 0.5 ms (a GPU batch) to 60 s (SageMaker's
limit), batch sizes in powers of two up to the GPU's 512, padded tokens up to the GPU budget.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    from service.backend.artifact import Manifest
    from service.backend.plan import ExecutionPlan

# prometheus_client's multiprocess mode: every worker keeps its values in files in a shared
# directory and /metrics in any worker reports the sum over all of them. The library reads the
# directory only from PROMETHEUS_MULTIPROC_DIR; service/worker_context.py sets it in each worker
# before this module is imported there.

_SECONDS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
    30.0,
    60.0,
)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
REJECT_REASONS = ("not_ready", "queue_full", "queue_wait", "deadline")
_TOKENS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384)
_TEXT_TOKENS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_CONFIDENCE = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


class Metrics:
    """Every metric the server records; one instance per app, one registry per instance.
    `multiprocess_dir`: the shared directory when several workers serve (summed at /metrics)."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.request_seconds = Histogram(
            "serve_request_seconds",
            "End-to-end /invocations latency inside the server.",
            buckets=_SECONDS,
            registry=reg,
        )
        self.tokenize_seconds = Histogram(
            "serve_tokenize_seconds",
            "Tokenizing one request's texts.",
            buckets=_SECONDS,
            registry=reg,
        )
        self.queue_seconds = Histogram(
            "serve_queue_seconds",
            "Wait from queueing to the start of a request's last batch.",
            buckets=_SECONDS,
            registry=reg,
        )
        self.inference_seconds = Histogram(
            "serve_inference_seconds", "One batch on the model.", buckets=_SECONDS, registry=reg
        )
        self.batch_size = Histogram(
            "serve_batch_size", "Texts per batch.", buckets=_SIZES, registry=reg
        )
        self.padded_tokens = Histogram(
            "serve_batch_padded_tokens",
            "Padded tokens (longest × texts) per batch.",
            buckets=_TOKENS,
            registry=reg,
        )
        self.texts_per_request = Histogram(
            "serve_request_texts", "Texts per request.", buckets=_SIZES, registry=reg
        )
        self.queue_texts = Gauge(
            "serve_queue_texts",
            "Texts waiting for the model (all workers).",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.memory_bytes = Gauge(
            "serve_memory_bytes",
            "Resident memory a worker gained while loading, by part: python (and libraries, "
            "before the model), sessions, tokenizer, warm_up (buffers it left); one series "
            "per worker process.",
            ["part"],
            registry=reg,
            multiprocess_mode="liveall",
        )
        self.requests = Counter(
            "serve_requests",
            "Finished /invocations requests by HTTP status.",
            ["status"],
            registry=reg,
        )
        self.rejects = Counter(
            "serve_rejects",
            "Requests refused before inference, by reason.",
            ["reason"],
            registry=reg,
        )
        # Known label values start at 0, so they are exported (and rate() works) before the
        # first one happens; with several workers an unused child would not be exported at all.
        for reason in REJECT_REASONS:
            self.rejects.labels(reason)
        self.requests.labels("200")
        self.ready = Gauge(
            "serve_ready",
            "1 when /ping answers 200 (in every worker).",
            registry=reg,
            multiprocess_mode="livemin",
        )
        self.failed_batches = Counter(
            "serve_failed_batches", "Batches whose model run raised.", registry=reg
        )
        # What a model owner watches for drift (one series per label; a few histograms).
        self.predictions = Counter(
            "serve_predictions", "Texts answered, by top label.", ["label"], registry=reg
        )
        self.confidence = Histogram(
            "serve_prediction_confidence",
            "Score of the top label per text.",
            buckets=_CONFIDENCE,
            registry=reg,
        )
        self.input_tokens = Histogram(
            "serve_input_tokens",
            "Tokens per text as the model sees it (special tokens included).",
            buckets=_TEXT_TOKENS,
            registry=reg,
        )
        self.truncated = Counter(
            "serve_truncated_texts", "Texts cut to the model's maximum length.", registry=reg
        )
        # An info metric by hand: prometheus_client's Info cannot span worker processes.
        self.model = Gauge(
            "serve_model_info",
            "The model being served and the execution plan (value 1).",
            ["version", "labels", "provider", "max_length", "plan"],
            registry=reg,
            multiprocess_mode="max",
        )

    def plan_decided(self, plan: ExecutionPlan) -> None:
        self._plan_of = plan

    def model_loaded(self, manifest: Manifest, provider: str, precision: str) -> None:
        """`precision`: the variant really served (fp32 when an unverified one failed its check)."""
        plan, batch = self._plan_of, self._plan_of.batch
        described = (
            f"{plan.device}/{precision}/workers={plan.workers}/threads={plan.intra_op_threads}"
            f"/batch={batch.max_batch_size}x{batch.max_batch_tokens}"
        )
        self.model.labels(
            manifest.model_version,
            ",".join(manifest.labels),
            provider,
            str(manifest.max_length),
            described,
        ).set(1)
        for label in manifest.labels:
            self.predictions.labels(label)

    def readiness(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)

    def memory(self, parts_mb: Mapping[str, float]) -> None:
        for part, mb in parts_mb.items():
            self.memory_bytes.labels(part).set(mb * 1e6)

    def tokenized(self, seconds: float) -> None:
        self.tokenize_seconds.observe(seconds)

    def text_lengths(self, lengths: Sequence[int], truncated: int) -> None:
        for length in lengths:
            self.input_tokens.observe(length)
        if truncated:
            self.truncated.inc(truncated)

    def queued(self, seconds: float) -> None:
        self.queue_seconds.observe(seconds)

    def predicted(self, labels: Sequence[str], scores: np.ndarray) -> None:
        best = scores.argmax(axis=1)
        for index in best.tolist():
            self.predictions.labels(labels[index]).inc()
        for top in scores[np.arange(len(scores)), best].tolist():
            self.confidence.observe(top)

    # The batching core's observer interface.
    def batch_done(self, size: int, padded_tokens: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.padded_tokens.observe(padded_tokens)
        self.inference_seconds.observe(seconds)

    def queue_depth(self, texts: int) -> None:
        self.queue_texts.set(texts)

    def rejected(self, reason: str) -> None:
        self.rejects.labels(reason).inc()

    def batch_failed(self) -> None:
        self.failed_batches.inc()

    def exposition(self) -> bytes:
        if self.multiprocess_dir is not None:
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)

    def worker_exited(self, pid: int) -> None:
        """Drop this worker's live gauges (queue depth, readiness) from the shared figures."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(pid, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]


@contextmanager
def shared_metrics_dir(given: Path | None) -> Iterator[Path]:
    """For the lifetime of several workers: a fresh directory for their metric files (the
    user's PROMETHEUS_MULTIPROC_DIR if set, emptied first; else a temporary one)."""
    path = given or Path(tempfile.mkdtemp(prefix="serve-metrics-"))
    if given:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        if not given:
            shutil.rmtree(path, ignore_errors=True)


# The 0.0.4 text format: what every Prometheus (Debian's 2.42 included) and SageMaker scrape.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
