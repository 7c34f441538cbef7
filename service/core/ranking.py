"""Scores to labelled answers, in the Hugging Face pipeline's shape: the top label per text, the
top k, or every label's score in label order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

LabelScore = dict[str, Any]
"""`{"label": name, "score": float}`"""
TextAnswer = LabelScore | list[LabelScore]
"""One text's answer: a single label-score pair, or a list of them."""


def rank(
    scores: np.ndarray, labels: Sequence[str], top_k: int | None, all_scores: bool
) -> list[TextAnswer]:
    """One answer per row of `scores`: the top label, or the top k, or every label in order."""
    if all_scores and top_k is None:
        return [
            [{"label": lab, "score": s} for lab, s in zip(labels, row, strict=True)]
            for row in scores.tolist()
        ]
    if top_k is None:
        best = scores.argmax(axis=1)
        top = scores[np.arange(len(scores)), best].tolist()
        return [{"label": labels[i], "score": s} for i, s in zip(best.tolist(), top, strict=True)]
    k = min(top_k, len(labels))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    ranked = np.take_along_axis(scores, order, axis=1).tolist()
    return [
        [{"label": labels[i], "score": s} for i, s in zip(idx, row, strict=True)]
        for idx, row in zip(order.tolist(), ranked, strict=True)
    ]


def rank_multi_label(
    scores: np.ndarray, labels: Sequence[str], top_k: int | None, threshold: float
) -> list[TextAnswer]:
    """Multi-label answers: per text, the labels scoring above `threshold` and every label
    with its score (the top k when asked), both highest first."""
    order = np.argsort(-scores, axis=1, kind="stable")
    if top_k is not None:
        order = order[:, : min(top_k, len(labels))]
    ranked = np.take_along_axis(scores, order, axis=1).tolist()
    answers: list[TextAnswer] = []
    for idx, row in zip(order.tolist(), ranked, strict=True):
        pairs = [{"label": labels[i], "score": s} for i, s in zip(idx, row, strict=True)]
        answers.append(
            {"labels": [p["label"] for p in pairs if p["score"] > threshold], "scores": pairs}
        )
    return answers


def with_details(
    answers: list[TextAnswer],
    tokens: Sequence[int],
    truncated: Sequence[bool],
    windows: Sequence[int],
) -> list[TextAnswer]:
    """Each answer with what the model saw of its text: `tokens` (the whole text's count),
    `truncated`, and `windows` (more than 1 when chunked). A list answer moves under `scores`."""
    detailed: list[TextAnswer] = []
    for answer, count, cut, parts in zip(answers, tokens, truncated, windows, strict=True):
        body: LabelScore = dict(answer) if isinstance(answer, dict) else {"scores": answer}
        body.update(tokens=count, truncated=cut, windows=parts)
        detailed.append(body)
    return detailed


def raw_logits(scores: np.ndarray, activation: str) -> np.ndarray:
    """The logits behind the model's scores, for clients that ask for raw scores (TEI's
    `raw_scores`). Sigmoid scores give back the logits themselves (to float32 rounding: a
    score of exactly 0 or 1 is held just inside, about +-16.6); softmax ones give log-softmax,
    the logits less a per-text constant, which keeps their order and differences."""
    wide = scores.astype(np.float64)
    if activation == "sigmoid":
        tiny = float(np.finfo(np.float32).eps) / 2
        wide = np.clip(wide, tiny, 1.0 - tiny)
        return np.log(wide) - np.log1p(-wide)
    return np.log(np.maximum(wide, np.finfo(np.float64).tiny))


def by_relevance(scores: Sequence[float], top_n: int | None) -> list[int]:
    """Indexes of `scores` highest first (ties keep input order), the first `top_n` when set."""
    order: list[int] = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable").tolist()
    return order if top_n is None else order[:top_n]
