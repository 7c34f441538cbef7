"""The service tiers serve a torch-free tiny model, as the serving image would: overrides the
session-wide `tiny_artifact` of tests/conftest.py, which trains a DistilBERT with torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.tiny_onnx_artifact import build_onnx_artifact


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, servable artifact (numpy-built ONNX graph, fp32 + int8, the sample's 4 labels,
    WordPiece over the sample's words), built once per session in about a second. Read-only."""
    return build_onnx_artifact(tmp_path_factory.mktemp("tiny-onnx-artifact") / "model")
