"""What the public API's Locust user sends and accepts (no Locust import: testable in pytest).

Bodies are the public JSON (`{"text": ...}` or `{"texts": [...]}`); answers must be 200 with one
prediction per text under `predictions`, checked as the other users check theirs.
"""

from __future__ import annotations

import json
from typing import Any

from loadtests.validation import InvalidResponse, check_predictions


def public_body(texts: tuple[str, ...], batch: bool) -> bytes:
    payload: dict[str, Any] = {"texts": list(texts)} if batch else {"text": texts[0]}
    return json.dumps(payload).encode()


def check_public_answer(
    status: int, body: bytes | None, expected: int, labels: frozenset[str] | None
) -> None:
    """Raise InvalidResponse unless the answer is 200 with one prediction per text."""
    if not 200 <= status < 300:
        check_predictions(status, body, expected, labels)  # raises with the status and body
    try:
        answer = json.loads(body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidResponse("body is not JSON") from None
    if not isinstance(answer, dict) or "predictions" not in answer:
        raise InvalidResponse('body has no "predictions"')
    check_predictions(status, json.dumps(answer["predictions"]).encode(), expected, labels)
