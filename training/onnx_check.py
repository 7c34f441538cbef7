"""Run an exported graph the way the service will: `tokenizers` + ONNX Runtime, no torch."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from service.backend.tokenizer import TextEncoder, TextOrPair


def encoder_from_tokenizer_json(path: Path, input_names: Sequence[str]) -> TextEncoder:
    """A TextEncoder configured from tokenizer.json itself: the artifact writer stores the
    model's max length, truncation side and pad id in its truncation and padding sections."""
    tokenizer = Tokenizer.from_file(str(path))
    truncation = tokenizer.truncation or {}
    padding = tokenizer.padding or {}
    return TextEncoder(
        path,
        int(truncation.get("max_length", 512)),
        truncation_side="left" if truncation.get("direction") == "left" else "right",
        pad_id=int(padding["pad_id"]) if "pad_id" in padding else None,
        input_names=input_names,
    )


class OnnxClassifier:
    """An ONNX Runtime session plus the server's TextEncoder (the artifact's tokenizer.json)."""

    def __init__(
        self,
        model: Path,
        tokenizer: Path | TextEncoder,
        providers: list[str] | None = None,
    ) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model), options, providers=providers or ["CPUExecutionProvider"]
        )
        inputs = [i.name for i in self.session.get_inputs()]
        if isinstance(tokenizer, TextEncoder):
            self.encoder = tokenizer
        else:
            self.encoder = encoder_from_tokenizer_json(tokenizer, inputs)

    def feeds(self, texts: Sequence[TextOrPair]) -> dict[str, np.ndarray]:
        return self.encoder.encode_feeds(texts)

    def logits(self, texts: Sequence[TextOrPair], batch_size: int = 32) -> np.ndarray:
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
    model: Path,
    encoder: Path | TextEncoder,
    texts: Sequence[TextOrPair],
    batch: int,
    rounds: int = 3,
) -> float:
    """Median milliseconds per batch of `batch` texts (pre-tokenized; inference only)."""
    classifier = OnnxClassifier(model, encoder)
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
