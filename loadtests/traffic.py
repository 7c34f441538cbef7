"""The request mix: which body each simulated request carries, drawn from the dataset.

Three kinds of call to `POST /invocations`, picked by weight: one text as JSON, several texts
as JSON, several texts as CSV (one per line). Each kind gets its own Locust entry name, so the
statistics show whether batching or the CSV codec behaves differently from the common case.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

RequestKind = Literal["json_single", "json_batch", "csv_batch"]
REQUEST_KINDS: tuple[RequestKind, ...] = get_args(RequestKind)
DEFAULT_MIX = "json_single=6,json_batch=3,csv_batch=1"


class TrafficError(ValueError):
    """A traffic option is malformed; the message says which and how."""


@dataclass(frozen=True)
class Invocation:
    """One request body ready to send, and what a valid answer must contain."""

    kind: RequestKind
    content_type: str
    body: bytes
    texts: tuple[str, ...]

    @property
    def name(self) -> str:
        """The Locust entry name: one line per request kind in every report."""
        return f"/invocations {self.kind}"


def parse_mix(spec: str) -> dict[RequestKind, float]:
    """`"json_single=6,csv_batch=1"` -> weights; kinds left out get weight 0."""
    weights: dict[RequestKind, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kind, sep, value = part.partition("=")
        kind = kind.strip()
        if not sep or kind not in REQUEST_KINDS:
            raise TrafficError(
                f"--mix: {part!r} is not KIND=WEIGHT with KIND one of {', '.join(REQUEST_KINDS)}"
            )
        try:
            weight = float(value)
        except ValueError:
            raise TrafficError(f"--mix: weight {value!r} of {kind} is not a number") from None
        if weight < 0:
            raise TrafficError(f"--mix: weight of {kind} is negative")
        weights[kind] = weight
    if sum(weights.values()) <= 0:
        raise TrafficError("--mix: at least one request kind needs a positive weight")
    return weights


def encode(kind: RequestKind, texts: Sequence[str]) -> tuple[str, bytes]:
    """(content type, body) in the server's contract for this kind of request."""
    if kind == "json_single":
        return "application/json", json.dumps({"inputs": texts[0]}).encode()
    if kind == "json_batch":
        return "application/json", json.dumps({"inputs": list(texts)}).encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for text in texts:
        writer.writerow([text])
    return "text/csv", buffer.getvalue().encode()


class TrafficGenerator:
    """Draws invocations by weight; batch sizes uniform in [batch_min, batch_max]."""

    def __init__(
        self,
        texts: Sequence[str],
        mix: Mapping[RequestKind, float],
        batch_min: int = 2,
        batch_max: int = 8,
        rng: random.Random | None = None,
    ) -> None:
        if not texts:
            raise TrafficError("no texts to send")
        if not 1 <= batch_min <= batch_max:
            raise TrafficError(
                f"batch sizes must satisfy 1 <= min <= max (got {batch_min}, {batch_max})"
            )
        self._texts = texts
        self._kinds = [kind for kind, weight in mix.items() if weight > 0]
        self._weights = [mix[kind] for kind in self._kinds]
        self._batch = (batch_min, batch_max)
        self._rng = rng or random.Random()

    def next(self) -> Invocation:
        kind = self._rng.choices(self._kinds, self._weights)[0]
        count = 1 if kind == "json_single" else self._rng.randint(*self._batch)
        texts = tuple(self._rng.choice(self._texts) for _ in range(count))
        content_type, body = encode(kind, texts)
        return Invocation(kind, content_type, body, texts)
