"""Fixtures for the training tests: small data files and a tiny saved base model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from training.base_model import DEFAULT_BASE, load_tokenizer
from training.fixtures import tiny_model

LABELS = ["business", "entertainment", "health", "scitech"]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny DistilBERT saved like a hub checkpoint, for `--base-model PATH` runs."""
    path = tmp_path_factory.mktemp("tiny-base")
    tiny_model(LABELS).save_pretrained(path)
    load_tokenizer(DEFAULT_BASE).save_pretrained(path)
    return path


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["text,label"] + [f'"{text}",{label}' for text, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _balanced_rows(per_class: int = 6, classes: int = 3) -> list[tuple[str, str]]:
    return [
        (f"headline {c} number {i}", f"class{c}") for c in range(classes) for i in range(per_class)
    ]


@pytest.fixture
def write_csv() -> Callable[[Path, list[tuple[str, str]]], Path]:
    """write_csv(path, [(text, label), ...]) -> path"""
    return _write_csv


@pytest.fixture
def balanced_rows() -> Callable[..., list[tuple[str, str]]]:
    """balanced_rows(per_class=6, classes=3): distinct texts, labels class0.. classN-1"""
    return _balanced_rows
