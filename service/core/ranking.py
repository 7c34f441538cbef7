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
