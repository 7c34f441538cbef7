"""TEI's `POST /predict` (text-embeddings-inference, sequence classification).

In: `{"inputs": ..., "raw_scores": false, "truncate": bool?, "truncation_direction": "Right"}`.
A sequence is a string, `[text]`, or `[text, text_pair]`; `inputs` is one sequence or a list
of them, parsed as TEI's untagged types parse it: a list of exactly two strings is one pair,
other lists are a batch. `truncate: false` refuses a text too long (422), `true` cuts it on
`truncation_direction`'s side; absent, the server's policy applies.

Out: per sequence, every label with its score, highest first, `[{"score", "label"}]`; a batch
gets a list of those. `raw_scores`: the logits (service.core.ranking.raw_logits).
"""

from __future__ import annotations

from typing import Any

import orjson

from service.api.call import Call, flag, json_object
from service.api.errors import BadRequest
from service.backend.segmenter import Item, Pair, Policy
from service.core.ranking import raw_logits


def _sequence(value: object) -> Item:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if len(value) == 1:
            return str(value[0])
        if len(value) == 2:
            return Pair(str(value[0]), str(value[1]))
    raise BadRequest('"inputs": a sequence is a string, [text] or [text, text_pair]')


def _inputs(value: object) -> tuple[list[Item], bool]:
    """The items, and whether the request was a batch."""
    if isinstance(value, str):
        return [value], False
    if isinstance(value, list) and value:
        if len(value) <= 2 and all(isinstance(v, str) for v in value):
            return [_sequence(value)], False
        return [_sequence(v) for v in value], True
    raise BadRequest('"inputs" must be a sequence or a non-empty list of sequences')


def truncation(request: dict[str, Any]) -> Policy | None:
    """TEI's `truncate` and `truncation_direction` as the server's long-text policy."""
    direction = request.get("truncation_direction", "Right")
    if not isinstance(direction, str) or direction.lower() not in ("right", "left"):
        raise BadRequest(f'truncation_direction must be "Right" or "Left", got {direction!r}')
    if "truncate" not in request or request["truncate"] is None:
        return "left" if direction.lower() == "left" else None
    if not flag(request, "truncate"):
        return "error"
    return "left" if direction.lower() == "left" else "right"


async def answer(call: Call, body: bytes) -> bytes:
    request = json_object(body)
    items, batch = _inputs(request.get("inputs"))
    result = await call.predict(items, truncation(request))
    scores = result.scores
    if flag(request, "raw_scores"):
        scores = raw_logits(scores, call.manifest.activation)
    labels = list(result.labels)
    answers = []
    for row in scores.tolist():
        ranked = sorted(zip(row, labels, strict=True), key=lambda pair: -pair[0])
        answers.append([{"score": score, "label": label} for score, label in ranked])
    return orjson.dumps(answers if batch else answers[0])
