"""vLLM's `POST /classify` (which Dynamo and LiteLLM copy).

In: `{"model": name?, "input": "text" | ["a", "b", ...]}`; an item may also be a pair
`{"text": a, "text_pair": b}` (our extension: vLLM's own pair path is its score API).
`truncate_prompt_tokens` -1 or absent: texts are cut to the model's length, as the server's
policy says; a positive count is refused (the server cuts by its policy, not to a count).

Out, as vLLM's ClassificationResponse: `{"id", "object": "list", "created", "model", "data":
[{"index", "label", "probs": [per label, in label order], "num_classes"}], "usage":
{"prompt_tokens", "total_tokens", "completion_tokens": 0, "prompt_tokens_details": null}}`.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from service.api import codecs
from service.api.call import Call, json_object, model_named, tokens_seen
from service.api.errors import BadRequest
from service.backend.segmenter import Item


def _items(value: object, options: codecs.Options) -> list[Item]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        items: list[Item] = []
        for entry in value:
            if isinstance(entry, str):
                items.append(entry)
            elif isinstance(entry, dict):
                items.append(codecs.pair_of(entry, options, '"input"'))
            else:
                break
        else:
            return items
    raise BadRequest('"input" must be a string or a non-empty list of strings (or pairs)')


async def answer(call: Call, body: bytes) -> bytes:
    request = json_object(body)
    model = request.get("model")
    model_named(call.manifest, model if isinstance(model, str) else None)
    cut: Any = request.get("truncate_prompt_tokens")
    if cut is not None and cut != -1:
        raise BadRequest(
            "truncate_prompt_tokens: only -1 (the model's length) is supported; the server "
            "cuts longer texts by its truncation policy"
        )
    options = codecs.Options()
    items = _items(request.get("input"), options)
    result = await call.predict(items, None)
    labels = list(result.labels)
    best = result.scores.argmax(axis=1).tolist()
    tokens = tokens_seen(result)
    return orjson.dumps(
        {
            "id": f"classify-{os.urandom(16).hex()}",
            "object": "list",
            "created": int(time.time()),
            "model": call.manifest.model_name,
            "data": [
                {"index": i, "label": labels[b], "probs": row, "num_classes": len(labels)}
                for i, (b, row) in enumerate(zip(best, result.scores.tolist(), strict=True))
            ],
            "usage": {
                "prompt_tokens": tokens,
                "total_tokens": tokens,
                "completion_tokens": 0,
                "prompt_tokens_details": None,
            },
        }
    )
