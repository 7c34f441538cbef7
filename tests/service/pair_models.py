"""Tiny sentence-pair models for the pair, rerank and compatible-route tests: built from config,
exported through the CLI with `--pairs`, served by a real server; and what
`transformers.pipeline` answers on the same pairs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loadtests.local_server import local_server
from training.data import sample_texts

ENV = {"SERVE_WORKERS": "1", "SERVE_DEVICE": "cpu", "SERVE_PRECISION": "fp32"}


def sample_pairs(count: int = 6) -> list[tuple[str, str]]:
    """Headline pairs, and one pair far longer than the model's 128 tokens (truncated)."""
    texts = list(sample_texts())
    pairs = [(texts[i], texts[i + 1]) for i in range(0, 2 * count, 2)]
    long_text = " ".join(texts[20:60])
    pairs.append((texts[3], long_text))
    return pairs


def pipeline_scores(
    checkpoint: Path, pairs: list[tuple[str, str]], truncation: str = "longest_first"
) -> list[dict[str, float]]:
    """Every label's score per pair, from transformers' text-classification pipeline."""
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(checkpoint), device="cpu")
    inputs = [{"text": a, "text_pair": b} for a, b in pairs]
    answers: Any = classify(inputs, top_k=None, truncation=truncation)
    return [{a["label"]: float(a["score"]) for a in answer} for answer in answers]


@contextmanager
def served(artifact: Path, **env: str) -> Iterator[str]:
    with local_server(artifact, env={**ENV, **env}, ready_timeout=120) as url:
        yield url
