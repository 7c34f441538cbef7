"""Codecs: content types in, Accept out, the toolkit's JSON shape, typed errors."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from service.api import codecs
from service.api.codecs import Options
from service.api.errors import (
    BadRequest,
    EmptyText,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from service.core.ranking import rank

LABELS = ["world", "sports", "business", "scitech"]
PROBS = np.array([[0.1, 0.6, 0.2, 0.1], [0.05, 0.05, 0.1, 0.8]], dtype=np.float32)


def decode(content_type: str | None, body: bytes, max_texts: int = 10) -> codecs.Decoded:
    return codecs.decode(content_type, body, Options(), max_texts)


@pytest.mark.parametrize(
    ("content_type", "body", "texts"),
    [
        ("application/json", b'{"inputs": "one"}', ["one"]),
        ("application/json; charset=utf-8", b'{"inputs": ["a", "b"]}', ["a", "b"]),
        (None, b'{"instances": ["a", {"inputs": "b"}]}', ["a", "b"]),
        (
            "text/csv",
            b'plain\n"with, comma"\n"quote ""q"""\n',
            ["plain", "with, comma", 'quote "q"'],
        ),
        ("application/jsonlines", b'{"inputs": "a"}\n\n{"inputs": ["b", "c"]}\n', ["a", "b", "c"]),
        ("application/x-jsonlines", b'{"inputs": "a"}', ["a"]),
        ("text/plain", "Ünïcode, commas, all one text".encode(), ["Ünïcode, commas, all one text"]),
    ],
)
def test_each_content_type_decodes_to_texts_in_order(
    content_type: str | None, body: bytes, texts: list[str]
) -> None:
    assert decode(content_type, body).texts == texts


def test_parameters_from_body_and_custom_attributes() -> None:
    options = Options()
    codecs.parse_custom_attributes("trace=abc, top_k=2; return_all_scores=false", options)
    assert options.top_k == 2 and not options.return_all_scores
    decoded = codecs.decode(
        "application/json",
        b'{"inputs": "x", "parameters": {"return_all_scores": true}}',
        options,
        5,
    )
    assert decoded.options.return_all_scores and decoded.options.top_k == 2


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        ("application/json", b"{not json", BadRequest),
        ("application/json", b'["a"]', BadRequest),
        ("application/json", b'{"inputs": 3}', BadRequest),
        ("application/json", b'{"inputs": []}', BadRequest),
        ("application/json", b'{"text": "a"}', BadRequest),
        ("application/json", b'{"inputs": "a", "parameters": {"top_k": 0}}', BadRequest),
        ("application/json", b'{"inputs": "a", "parameters": {"top_k": true}}', BadRequest),
        (
            "application/json",
            b'{"inputs": "a", "parameters": {"return_all_scores": "yes"}}',
            BadRequest,
        ),
        ("text/csv", b"a,b,c\n", BadRequest),
        ("text/plain", b"\xff\xfe", BadRequest),
        ("application/json", b'{"inputs": ["ok", "  "]}', EmptyText),
        ("application/json", b'{"inputs": ["a","b","c","d"]}', PayloadTooLarge),
        ("image/png", b"...", UnsupportedMediaType),
    ],
)
def test_bad_bodies_raise_typed_errors(
    content_type: str | None, body: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        decode(content_type, body, max_texts=3)


def test_bad_custom_attribute_value_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="top_k"):
        codecs.parse_custom_attributes("top_k=many", Options())


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, codecs.JSON),
        ("*/*", codecs.JSON),
        ("text/csv", codecs.CSV),
        ("application/jsonlines;q=0.5, text/csv;q=0.9", codecs.CSV),
        ("image/png, application/*", codecs.JSON),
        ("application/x-jsonlines", codecs.JSONLINES),
    ],
)
def test_accept_negotiation(accept: str | None, chosen: str) -> None:
    assert codecs.negotiate(accept) == chosen


def test_unsatisfiable_accept_is_406() -> None:
    with pytest.raises(NotAcceptable):
        codecs.negotiate("image/png, text/csv;q=0")


def test_predictions_top1_topk_and_all_scores() -> None:
    top1 = rank(PROBS, LABELS, top_k=None, all_scores=False)
    assert [p["label"] for p in top1] == ["sports", "scitech"]  # type: ignore[call-overload]
    assert top1[0]["score"] == pytest.approx(0.6)  # type: ignore[call-overload]
    top2 = rank(PROBS, LABELS, top_k=2, all_scores=False)
    assert [[p["label"] for p in row] for row in top2] == [  # type: ignore[index]
        ["sports", "business"],
        ["scitech", "business"],
    ]
    every = rank(PROBS, LABELS, top_k=None, all_scores=True)
    assert [p["label"] for p in every[0]] == LABELS  # type: ignore[index]  # label order, as the toolkit returns them
    assert rank(PROBS, LABELS, top_k=99, all_scores=False)[0][3]["label"] == "scitech"  # type: ignore[index]


def test_encoders() -> None:
    preds = rank(PROBS, LABELS, top_k=None, all_scores=False)
    assert [p["label"] for p in orjson.loads(codecs.encode(codecs.JSON, preds))] == [
        "sports",
        "scitech",
    ]
    lines = codecs.encode(codecs.JSONLINES, preds).decode().splitlines()
    assert [orjson.loads(line)["label"] for line in lines] == ["sports", "scitech"]
    csv_rows = codecs.encode(codecs.CSV, rank(PROBS, LABELS, top_k=2, all_scores=False)).decode()
    assert csv_rows.splitlines()[0].split(",")[::2] == ["sports", "business"]
    assert orjson.loads(codecs.error_body("bad", "bad_request")) == {
        "error": "bad",
        "type": "bad_request",
    }
