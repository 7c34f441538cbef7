"""The shared `tiny_artifact` fixture is a real artifact the service can load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from service.backend.artifact import load_manifest
from training.onnx_check import OnnxClassifier


def test_tiny_artifact_is_valid_and_not_constant(tiny_artifact: Path) -> None:
    manifest = load_manifest(tiny_artifact)
    assert manifest.labels == ["business", "entertainment", "health", "scitech"]
    assert set(manifest.variants) == {"fp32", "int8"}
    assert manifest.device_variant["cpu"] == "fp32"
    texts = [
        "Central bank raises interest rates again",
        "Pop star announces a stadium tour",
        "Flu cases climb as winter arrives",
        "Rocket launches new weather satellite",
    ]
    for precision in ("fp32", "int8"):
        classifier = OnnxClassifier(
            tiny_artifact / manifest.variants[precision].file, tiny_artifact / "tokenizer.json"
        )
        logits = classifier.logits(texts)
        assert logits.shape == (4, 4)
        assert np.ptp(logits, axis=0).max() > 1e-3, "predictions are constant"


def test_tiny_artifact_tokenizer_feeds_only_ids_and_mask(tiny_artifact: Path) -> None:
    config = json.loads((tiny_artifact / "tokenizer.json").read_text())
    assert config["truncation"]["max_length"] == 32
    assert config["padding"]["strategy"] == "BatchLongest"
    classifier = OnnxClassifier(tiny_artifact / "model.onnx", tiny_artifact / "tokenizer.json")
    feeds = classifier.feeds(["word " * 100, "short"])
    assert set(feeds) == {"input_ids", "attention_mask"}
    assert feeds["input_ids"].shape == (2, 32)
    assert [i.name for i in classifier.session.get_inputs()] == ["input_ids", "attention_mask"]
