"""Run an exported graph the way the service will: `tokenizers` + ONNX Runtime, no torch."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


class OnnxClassifier:
    """An ONNX Runtime session plus the artifact's tokenizer.json (truncates, pads per batch)."""

    def __init__(
        self, model: Path, tokenizer_json: Path, providers: list[str] | None = None
    ) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model), options, providers=providers or ["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(tokenizer_json))

    def feeds(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
        }

    def logits(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        chunks = [
            self.session.run(["logits"], self.feeds(texts[i : i + batch_size]))[0]
            for i in range(0, len(texts), batch_size)
        ]
        if not chunks:
            return np.zeros((0, self.session.get_outputs()[0].shape[-1] or 0), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)


def accuracy(logits: np.ndarray, labels: Sequence[int]) -> float:
    if not len(labels):
        return 0.0
    return float((logits.argmax(axis=1) == np.asarray(labels)).mean())


def time_variant(
    model: Path, tokenizer_json: Path, texts: Sequence[str], batch: int, rounds: int = 3
) -> float:
    """Median milliseconds per batch of `batch` texts (pre-tokenized; inference only)."""
    classifier = OnnxClassifier(model, tokenizer_json)
    batches = [
        classifier.feeds(texts[i : i + batch]) for i in range(0, len(texts) - batch + 1, batch)
    ]
    classifier.session.run(["logits"], batches[0])  # warm-up
    timings = []
    for _ in range(rounds):
        for feeds in batches:
            start = time.perf_counter()
            classifier.session.run(["logits"], feeds)
            timings.append(time.perf_counter() - start)
    return float(np.median(timings) * 1000)
