"""Prometheus metrics on an app-owned registry, served at /metrics on the serving port.

Buckets are chosen for this workload: latencies from 0.5 ms (a GPU batch) to 60 s (SageMaker's
limit), batch sizes in powers of two up to the GPU's 512, padded tokens up to the GPU budget.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

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
        self.queue_texts = Gauge("serve_queue_texts", "Texts waiting for the model.", registry=reg)
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
        self.ready = Gauge("serve_ready", "1 when /ping answers 200.", registry=reg)
        self.model = Info("serve_model", "The model being served.", registry=reg)

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
        return generate_latest(self.registry)


# The 0.0.4 text format: what every Prometheus (Debian's 2.42 included) and SageMaker scrape.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
