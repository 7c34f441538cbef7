"""Per-model metrics of a multi-model server, with the `model` label bounded.

Each worker gives its own label to the first `max_model_labels` models it serves and counts the
rest under `other`, so a server's series stay at most labels x workers x (series per model),
however many models pass through it. The server-wide metrics (service/metrics.py) keep counting
every request without the label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service.backend.artifact import Manifest
from service.core.predictor import PredictorObserver

OTHER = "other"
_SECONDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_CONFIDENCE = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


class ModelMetrics:
    def __init__(self, registry: CollectorRegistry, max_labels: int) -> None:
        self._max = max_labels
        self._given: set[str] = set()
        self.requests = Counter(
            "serve_model_requests",
            "Finished invocations of a model, by model and HTTP status.",
            ["model", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "serve_model_request_seconds",
            "Invocation latency inside the server, by model.",
            ["model"],
            buckets=_SECONDS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "serve_model_batch_size",
            "Texts per batch, by model.",
            ["model"],
            buckets=_SIZES,
            registry=registry,
        )
        self.inference_seconds = Histogram(
            "serve_model_inference_seconds",
            "One batch on the model, by model.",
            ["model"],
            buckets=_SECONDS,
            registry=registry,
        )
        self.predictions = Counter(
            "serve_model_predictions",
            "Texts answered, by model and top label.",
            ["model", "label"],
            registry=registry,
        )
        self.confidence = Histogram(
            "serve_model_prediction_confidence",
            "Score of the top label per text, by model.",
            ["model"],
            buckets=_CONFIDENCE,
            registry=registry,
        )
        self.memory_bytes = Gauge(
            "serve_model_memory_bytes",
            "Resident memory a worker gained loading the model (measured), by model.",
            ["model"],
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.loaded = Gauge(
            "serve_models_loaded",
            "Models this worker holds.",
            registry=registry,
            multiprocess_mode="liveall",
        )

    def label(self, name: str) -> str:
        """`name` while fewer than `max_model_labels` names were given one, else `other`."""
        if name in self._given:
            return name
        if len(self._given) < self._max:
            self._given.add(name)
            return name
        return OTHER

    def request(self, name: str, status: int, seconds: float) -> None:
        label = self.label(name)
        self.requests.labels(label, str(status)).inc()
        self.request_seconds.labels(label).observe(seconds)


class LabelledObserver:
    """The server-wide observer, also recording one model's batches and predictions."""

    def __init__(self, inner: PredictorObserver, metrics: ModelMetrics, name: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._label = metrics.label(name)

    def batch_done(self, size: int, padded_tokens: int, seconds: float) -> None:
        self._inner.batch_done(size, padded_tokens, seconds)
        self._metrics.batch_size.labels(self._label).observe(size)
        self._metrics.inference_seconds.labels(self._label).observe(seconds)

    def queue_depth(self, texts: int) -> None:
        self._inner.queue_depth(texts)

    def rejected(self, reason: str) -> None:
        self._inner.rejected(reason)

    def batch_failed(self) -> None:
        self._inner.batch_failed()

    def tokenized(self, seconds: float) -> None:
        self._inner.tokenized(seconds)

    def text_lengths(self, lengths: Sequence[int], truncated: int) -> None:
        self._inner.text_lengths(lengths, truncated)

    def predicted(self, labels: Sequence[str], scores: np.ndarray) -> None:
        self._inner.predicted(labels, scores)
        best = scores.argmax(axis=1)
        for index in best.tolist():
            self._metrics.predictions.labels(self._label, labels[index]).inc()
        for top in scores[np.arange(len(scores)), best].tolist():
            self._metrics.confidence.labels(self._label).observe(top)

    def queued(self, seconds: float) -> None:
        self._inner.queued(seconds)

    def model_loaded(self, manifest: Manifest, provider: str, precision: str) -> None:
        self._inner.model_loaded(manifest, provider, precision)

    def readiness(self, ready: bool) -> None:
        pass  # the server's readiness is not one model's

    def memory(self, parts_mb: Mapping[str, float]) -> None:
        pass  # per model: serve_model_memory_bytes, from the measured load
