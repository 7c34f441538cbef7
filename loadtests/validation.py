"""What counts as a good answer, and the server's own timing headers.

A request fails when the status is not 2xx or when the body is not a JSON list with exactly one
`{"label": str, "score": float in [0, 1]}` per input text: a server that answers 200 with the
wrong number of predictions is broken, and the load test must say so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from typing import Any

# Column name in our reports -> response header the server sets (milliseconds).
TIMING_HEADERS = {
    "queue_ms": "x-queue-time",
    "inference_ms": "x-inference-time",
    "tokenization_ms": "x-tokenization-time",
}


INVOKED_VARIANT_HEADER = "x-amzn-invoked-production-variant"


class InvalidResponse(Exception):
    """The answer breaks the contract; the message is one short line for Locust's failure table."""


def check_predictions(
    status: int, body: bytes | None, expected: int, labels: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Return the predictions, or raise InvalidResponse saying what is wrong."""
    if not 200 <= status < 300:
        detail = (body or b"")[:120].decode("utf-8", "replace").strip()
        raise InvalidResponse(f"HTTP {status}" + (f": {detail}" if detail else ""))
    try:
        predictions = json.loads(body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidResponse("body is not JSON") from None
    if not isinstance(predictions, list):
        raise InvalidResponse(f"body is a JSON {type(predictions).__name__}, expected a list")
    if len(predictions) != expected:
        raise InvalidResponse(f"{len(predictions)} predictions for {expected} texts")
    for index, item in enumerate(predictions):
        if not isinstance(item, dict):
            raise InvalidResponse(f"prediction {index} is not an object")
        label, score = item.get("label"), item.get("score")
        if not isinstance(label, str) or not label:
            raise InvalidResponse(f"prediction {index} has no string label")
        if labels is not None and label not in labels:
            raise InvalidResponse(f"prediction {index} has unknown label {label!r}")
        if (
            not isinstance(score, int | float)
            or isinstance(score, bool)
            or not math.isfinite(score)
            or not 0.0 <= score <= 1.0
        ):
            raise InvalidResponse(f"prediction {index} score {score!r} is not a probability")
    return predictions


def parse_millis(value: str | None) -> float | None:
    """A timing header's value in ms ("3.2", "3.2ms"); None when absent or unreadable."""
    if value is None:
        return None
    try:
        millis = float(value.strip().removesuffix("ms"))
    except ValueError:
        return None
    return millis if math.isfinite(millis) and millis >= 0 else None


def invoked_variant(headers: Mapping[str, str] | None) -> str | None:
    """The production variant SageMaker says answered (`x-amzn-invoked-production-variant`)."""
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    return lowered.get(INVOKED_VARIANT_HEADER) or None


def server_timings(headers: Mapping[str, str] | None) -> dict[str, float | None]:
    """Queue, inference and tokenization times from a response's headers (None when absent)."""
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    return {column: parse_millis(lowered.get(header)) for column, header in TIMING_HEADERS.items()}
