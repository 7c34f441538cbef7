"""A request fails on a non-2xx status or on an answer that breaks the contract."""

from __future__ import annotations

import json

import pytest

from loadtests.validation import InvalidResponse, check_predictions, server_timings


def _body(*predictions: object) -> bytes:
    return json.dumps(list(predictions)).encode()


def test_one_prediction_per_text_passes() -> None:
    body = _body({"label": "sports", "score": 0.7}, {"label": "world", "score": 1})
    assert len(check_predictions(200, body, 2, {"sports", "world"})) == 2


@pytest.mark.parametrize(
    ("status", "body", "expected", "message"),
    [
        (503, b'{"error": "overloaded"}', 1, "HTTP 503: .*overloaded"),
        (0, None, 1, "HTTP 0"),
        (200, b"<html>", 1, "not JSON"),
        (200, b'{"label": "x"}', 1, "JSON dict, expected a list"),
        (200, _body({"label": "x", "score": 0.5}), 2, "1 predictions for 2 texts"),
        (200, _body("x"), 1, "not an object"),
        (200, _body({"score": 0.5}), 1, "no string label"),
        (200, _body({"label": "x", "score": 1.5}), 1, "not a probability"),
        (200, _body({"label": "x", "score": True}), 1, "not a probability"),
        (200, b'[{"label": "x", "score": NaN}]', 1, "not a probability"),
    ],
)
def test_broken_answers_fail_with_a_short_reason(
    status: int, body: bytes | None, expected: int, message: str
) -> None:
    with pytest.raises(InvalidResponse, match=message):
        check_predictions(status, body, expected)


def test_unknown_label_fails_when_labels_are_given() -> None:
    with pytest.raises(InvalidResponse, match="unknown label 'spam'"):
        check_predictions(200, _body({"label": "spam", "score": 0.5}), 1, {"ham"})


def test_timing_headers_are_read_case_insensitively_and_tolerantly() -> None:
    timings = server_timings(
        {"X-Queue-Time": "1.5", "x-inference-time": "3ms", "x-tokenization-time": "n/a"}
    )
    assert timings == {"queue_ms": 1.5, "inference_ms": 3.0, "tokenization_ms": None}
    assert server_timings(None) == {"queue_ms": None, "inference_ms": None, "tokenization_ms": None}
