"""Fixtures shared by every test tier."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, servable artifact (tiny DistilBERT, fp32 + int8, 4 sample labels), built once
    per test session by the same export code as the real pipeline. Treat it as read-only."""
    from training.fixtures import build_tiny_artifact

    return build_tiny_artifact(tmp_path_factory.mktemp("tiny-artifact") / "model")
