"""Prometheus metrics on an app-owned registry, served at /metrics on the serving port.

Buckets are chosen for this workload: latencies from 0.5 ms (a GPU batch) to 60 s (SageMaker's
limit), batch sizes in powers of two up to the GPU's 512, padded tokens up to the GPU budget.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Set by the parent before it starts worker processes: prometheus_client then keeps every
# worker's values in files there, and /metrics in any worker reports the sum over all of them.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

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


class Metrics:
    """Every metric the server records; one instance per app, one registry per instance."""

    def __init__(self) -> None:
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
        # An info metric by hand: prometheus_client's Info cannot span worker processes.
        self.model = Gauge(
            "serve_model_info",
            "The model being served (value 1).",
            ["version", "labels", "provider", "max_length"],
            registry=reg,
            multiprocess_mode="max",
        )

    def model_loaded(self, version: str, labels: list[str], provider: str, max_length: int) -> None:
        self.model.labels(version, ",".join(labels), provider, str(max_length)).set(1)

    # The batching core's observer interface.
    def batch_done(self, size: int, padded_tokens: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.padded_tokens.observe(padded_tokens)
        self.inference_seconds.observe(seconds)

    def queue_depth(self, texts: int) -> None:
        self.queue_texts.set(texts)

    def rejected(self, reason: str) -> None:
        self.rejects.labels(reason).inc()

    def exposition(self) -> bytes:
        if os.environ.get(MULTIPROC_DIR):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)


def worker_exited() -> None:
    """Drop this worker's live gauges (queue depth, readiness) from the shared figures."""
    if os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@contextmanager
def metrics_shared_across_processes() -> Iterator[None]:
    """For the lifetime of several workers: a fresh directory for their metric files (the
    user's PROMETHEUS_MULTIPROC_DIR if set, emptied first), exported to the workers."""
    given = os.environ.get(MULTIPROC_DIR)
    path = given or tempfile.mkdtemp(prefix="serve-metrics-")
    if given:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)
    os.environ[MULTIPROC_DIR] = path
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(path, ignore_errors=True)
            del os.environ[MULTIPROC_DIR]


# The 0.0.4 text format: what every Prometheus (Debian's 2.42 included) and SageMaker scrape.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
