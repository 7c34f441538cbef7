"""Request bodies, split to fit the payload limit, and replies parsed: written once for the sync
and the async client."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from headline_client.transport import Reply, Request
from headline_client.types import (
    Answer,
    RerankResult,
    ServerError,
    TextOrPair,
    parse_answer,
    wire_item,
)

SAGEMAKER_PAYLOAD_BYTES = 6 * 1024 * 1024
"""SageMaker real-time endpoints take bodies up to 6 MiB; the server's default is the same."""
ENVELOPE_BYTES = 256
"""Room for a body's fields around its list of texts."""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def chunks(encoded: Sequence[bytes], max_bytes: int, max_items: int) -> Iterator[range]:
    """Index ranges whose items, joined by commas, fit `max_bytes` (and `max_items`)."""
    start, size = 0, 0
    for index, item in enumerate(encoded):
        if len(item) + ENVELOPE_BYTES > max_bytes:
            raise ValueError(
                f"item {index} alone is {len(item)} bytes, over the {max_bytes}-byte payload limit"
            )
        if index > start and (size + len(item) + 1 > max_bytes or index - start >= max_items):
            yield range(start, index)
            start, size = index, 0
        size += len(item) + 1
    if start < len(encoded):
        yield range(start, len(encoded))


def classify_requests(
    texts: Sequence[TextOrPair],
    parameters: dict[str, Any],
    max_bytes: int,
    max_items: int,
) -> list[Request]:
    """`/invocations` bodies for `texts`, every label's score asked for (typed answers)."""
    items = [_dumps(wire_item(t)) for t in texts]
    params = _dumps({"return_all_scores": True, **parameters})
    limit = max_bytes - len(params)
    return [
        Request(
            "/invocations",
            b'{"inputs":[' + b",".join(items[i] for i in part) + b'],"parameters":' + params + b"}",
        )
        for part in chunks(items, limit, max_items)
    ]


def rerank_requests(
    query: str,
    documents: Sequence[str],
    raw_scores: bool,
    max_bytes: int,
    max_items: int,
) -> list[tuple[int, Request]]:
    """`/rerank` bodies, each with the index of its first document."""
    items = [_dumps(d) for d in documents]
    head = _dumps({"query": query, "raw_scores": raw_scores})[:-1] + b',"texts":['
    out = []
    for part in chunks(items, max_bytes - len(head), max_items):
        body = head + b",".join(items[i] for i in part) + b"]}"
        out.append((part.start, Request("/rerank", body)))
    return out


def check(reply: Reply) -> bytes:
    """The body of a successful reply; ServerError otherwise, in the server's error shape."""
    if 200 <= reply.status < 300:
        return reply.body
    try:
        error = json.loads(reply.body)
        kind, message = str(error.get("type", "error")), str(error.get("error", reply.body))
    except (ValueError, AttributeError):
        kind, message = "error", reply.body.decode("utf-8", "replace")[:500]
    raise ServerError(reply.status, kind, message)


def answers(body: bytes) -> list[Answer]:
    return [parse_answer(row) for row in json.loads(body)]


def rerank_results(
    parts: Iterable[tuple[int, bytes]], documents: Sequence[str], top_n: int | None
) -> list[RerankResult]:
    """Every part's results, their indexes made global, sorted by score (ties by index)."""
    results = [
        RerankResult(offset + row["index"], float(row["score"]))
        for offset, body in parts
        for row in json.loads(body)
    ]
    results.sort(key=lambda r: (-r.score, r.index))
    kept = results if top_n is None else results[:top_n]
    return [RerankResult(r.index, r.score, documents[r.index]) for r in kept]


def pair_scores_as_rerank(
    answers_: list[Answer], documents: Sequence[str], top_n: int | None
) -> list[RerankResult]:
    """Rerank from `/invocations` answers to (query, document) pairs (a SageMaker endpoint
    reaches `/invocations` only): the one-logit model's score per document."""
    scored = []
    for index, answer in enumerate(answers_):
        if len(answer.scores) != 1:
            raise ServerError(400, "bad_request", "rerank needs a one-logit cross-encoder")
        scored.append(RerankResult(index, next(iter(answer.scores.values())), documents[index]))
    scored.sort(key=lambda r: (-r.score, r.index))
    return scored if top_n is None else scored[:top_n]


def jsonlines_requests(
    lines: Iterable[bytes], max_bytes: int, max_items: int
) -> Iterator[tuple[int, Request]]:
    """JSON Lines bodies of whole records, each under the payload limit, with their count."""
    batch: list[bytes] = []
    size = 0
    for line in lines:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        if batch and (size + len(line) + 1 > max_bytes or len(batch) >= max_items):
            yield len(batch), _jsonlines(batch)
            batch, size = [], 0
        if len(line) + 1 > max_bytes:
            raise ValueError(f"a record of {len(line)} bytes is over the payload limit")
        batch.append(line)
        size += len(line) + 1
    if batch:
        yield len(batch), _jsonlines(batch)


def _jsonlines(lines: list[bytes]) -> Request:
    return Request(
        "/invocations",
        b"\n".join(lines) + b"\n",
        content_type="application/jsonlines",
        accept="application/jsonlines",
        custom_attributes="return_all_scores=true",
    )
