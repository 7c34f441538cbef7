"""Typed answers, parsed from the server's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TextOrPair = str | tuple[str, str]
"""One text, or a sentence pair `(text, text_pair)` for a pair model."""


class ServerError(Exception):
    """The server (or SageMaker) refused the request; `status` is the HTTP status (for
    SageMaker's ModelError, the container's own), `kind` the server's error type."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(f"{status} {kind}: {message}")
        self.status = status
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class Prediction:
    """A single-label answer: the top label, its score, and every label's score."""

    label: str
    score: float
    scores: dict[str, float]


@dataclass(frozen=True, slots=True)
class MultiLabelPrediction:
    """A multi-label answer: the labels above the threshold, and every label's score."""

    labels: list[str]
    scores: dict[str, float]


@dataclass(frozen=True, slots=True)
class RerankResult:
    """One document of a rerank, highest relevance first: its input index and score."""

    index: int
    score: float
    document: str | None = None


Answer = Prediction | MultiLabelPrediction


def parse_answer(row: Any) -> Answer:
    """One text's answer to `/invocations` asked with `return_all_scores=true`."""
    if isinstance(row, dict) and "labels" in row:
        return MultiLabelPrediction(
            list(row["labels"]), {s["label"]: float(s["score"]) for s in row["scores"]}
        )
    if isinstance(row, list):
        scores = {s["label"]: float(s["score"]) for s in row}
        best = max(scores, key=lambda label: scores[label])
        return Prediction(best, scores[best], scores)
    if isinstance(row, dict) and "label" in row:
        return Prediction(row["label"], float(row["score"]), {row["label"]: float(row["score"])})
    raise ValueError(f"not an answer the client knows: {row!r}")


def wire_item(item: TextOrPair) -> Any:
    """A text as the server takes it: a string, or the pipeline's pair object."""
    if isinstance(item, str):
        return item
    text, text_pair = item
    return {"text": text, "text_pair": text_pair}
