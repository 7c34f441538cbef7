"""`POST /rerank` (and `/v1/rerank`): a query against many documents through a one-logit
cross-encoder, each (query, document) pair one item of the same batcher as everything else; a
thousand documents are one request's thousand texts, split across batches by the token budget.

In, TEI's names: `{"query", "texts", "raw_scores", "return_text", "truncate",
"truncation_direction"}`; or Cohere's and Jina's: `{"model", "query", "documents" (strings or
{"text": ...}), "top_n", "return_documents"}`. `top_n` and `return_documents` are taken in
either shape; `truncation: only_second` keeps the query whole and cuts the document.

Out: results sorted by relevance, highest first (ties in input order), each with the
document's index. With `texts`, TEI's list `[{"index", "score", "text"?}]`; with `documents`,
Cohere's and Jina's `{"id", "model", "results": [{"index", "relevance_score", "document"?:
{"text"}}], "usage": {"total_tokens"}, "meta": {"billed_units": {"search_units": 1}}}`.
Scores are the model's sigmoid of its logit; `raw_scores` gives the logit.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from service.api import tei
from service.api.call import Call, flag, json_object, model_named, positive_int, tokens_seen
from service.api.errors import BadRequest
from service.backend.segmenter import PAIR_TRUNCATIONS, Pair, PairTruncation
from service.core.ranking import by_relevance, raw_logits


def _documents(request: dict[str, Any]) -> tuple[list[str], bool]:
    """The documents' texts, and whether they came in Cohere's and Jina's field."""
    cohere = "documents" in request
    value = request.get("documents") if cohere else request.get("texts")
    if not isinstance(value, list) or not value:
        raise BadRequest('"texts" (or "documents") must be a non-empty list')
    texts: list[str] = []
    for entry in value:
        if isinstance(entry, dict) and cohere:
            entry = entry.get("text")
        if not isinstance(entry, str):
            raise BadRequest('each document must be a string (or {"text": string})')
        texts.append(entry)
    return texts, cohere


def _pair_truncation(request: dict[str, Any]) -> PairTruncation:
    value = request.get("truncation", "longest_first")
    if value not in PAIR_TRUNCATIONS:
        raise BadRequest(f"truncation must be one of {', '.join(PAIR_TRUNCATIONS)}, got {value!r}")
    return value  # type: ignore[no-any-return]


async def answer(call: Call, body: bytes) -> bytes:
    request = json_object(body)
    model = request.get("model")
    model_named(call.manifest, model if isinstance(model, str) else None)
    if len(call.manifest.labels) != 1:
        raise BadRequest(
            f"/rerank needs a one-logit cross-encoder; model {call.manifest.model_name!r} has "
            f"{len(call.manifest.labels)} labels (use /predict or /invocations with pairs)"
        )
    query = request.get("query")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest('"query" must be a non-empty string')
    documents, cohere = _documents(request)
    cut = _pair_truncation(request)
    top_n = positive_int(request, "top_n")
    show = flag(request, "return_documents") or flag(request, "return_text")
    result = await call.predict(
        [Pair(query, doc, cut) for doc in documents], tei.truncation(request)
    )
    scores = result.scores
    if flag(request, "raw_scores"):
        scores = raw_logits(scores, call.manifest.activation)
    column = scores[:, 0].tolist()
    order = by_relevance(column, top_n)
    if not cohere:
        return orjson.dumps(
            [
                {"index": i, "score": column[i], **({"text": documents[i]} if show else {})}
                for i in order
            ]
        )
    return orjson.dumps(
        {
            "id": os.urandom(16).hex(),
            "model": call.manifest.model_name,
            "results": [
                {
                    "index": i,
                    "relevance_score": column[i],
                    **({"document": {"text": documents[i]}} if show else {}),
                }
                for i in order
            ],
            "usage": {"total_tokens": tokens_seen(result)},
            "meta": {"billed_units": {"search_units": 1}},
        }
    )
