"""Sentence pairs and the other API shapes at the codec level: what each body decodes to, what
is refused, and the scoring helpers (raw logits, relevance order). No model needed."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from service.api import codecs, oip, tei
from service.api.errors import BadRequest, EmptyText
from service.backend.segmenter import Pair
from service.core.ranking import by_relevance, raw_logits


def decode(content_type: str, body: bytes) -> list[object]:
    return list(codecs.decode(content_type, body, codecs.Options(), 100).texts)


def test_json_pairs_in_every_place_a_text_goes() -> None:
    pair = Pair("a man eats", "someone eats")
    assert decode(
        "application/json", b'{"inputs": {"text": "a man eats", "text_pair": "someone eats"}}'
    ) == [pair]
    mixed = b'{"inputs": ["solo", {"text": "a man eats", "text_pair": "someone eats"}]}'
    assert decode("application/json", mixed) == ["solo", pair]
    instances = b'{"instances": [{"text": "a man eats", "text_pair": "someone eats"}, "x"]}'
    assert decode("application/json", instances) == [pair, "x"]


def test_jsonlines_and_csv_pairs() -> None:
    lines = b'{"text": "a", "text_pair": "b", "id": 7}\n"c"\n'
    assert decode("application/jsonlines", lines) == [Pair("a", "b"), "c"]
    assert decode("text/csv", b'a,b\nc\n"d, e",f\n') == [Pair("a", "b"), "c", Pair("d, e", "f")]
    with pytest.raises(BadRequest, match="two, a pair"):
        decode("text/csv", b"a,b,c\n")


def test_pair_truncation_is_a_request_option() -> None:
    options = codecs.Options()
    body = (
        b'{"inputs": {"text": "a", "text_pair": "b"}, "parameters": {"truncation": "only_second"}}'
    )
    decoded = codecs.decode("application/json", body, options, 10)
    assert decoded.texts == [Pair("a", "b", "only_second")]
    assert options.truncation is None  # the long-text policy is untouched
    header = codecs.Options()
    codecs.parse_custom_attributes("truncation=only_second", header)
    assert header.pair_truncation == "only_second"
    with pytest.raises(BadRequest, match="only_second"):
        codecs.Options().update({"truncation": "sideways"}, "body")


def test_bad_pairs_are_refused() -> None:
    with pytest.raises(BadRequest, match="text_pair"):
        decode("application/json", b'{"inputs": {"text": "a", "text_pair": 3}}')
    with pytest.raises(EmptyText, match="text 1"):
        decode("application/json", b'{"inputs": ["x", {"text": "a", "text_pair": "  "}]}')


def test_tei_sequences_parse_as_tei_does() -> None:
    assert tei._inputs("one") == (["one"], False)
    assert tei._inputs(["a", "b"]) == ([Pair("a", "b")], False)  # two strings: one pair
    assert tei._inputs(["a", "b", "c"]) == (["a", "b", "c"], True)
    assert tei._inputs([["a", "b"], ["c"], "d"]) == ([Pair("a", "b"), "c", "d"], True)
    assert tei.truncation({"truncate": False}) == "error"
    assert tei.truncation({"truncate": True, "truncation_direction": "Left"}) == "left"
    assert tei.truncation({}) is None
    with pytest.raises(BadRequest):
        tei._inputs([["a", "b", "c"]])


def test_oip_binary_bytes_tensors_round_trip() -> None:
    texts = ["héllo", "", "world"]
    raw = oip._serialize_bytes(texts)
    assert raw[:4] == struct.pack("<I", len("héllo".encode()))
    assert oip._bytes_elements(raw, 3, "text") == texts
    with pytest.raises(BadRequest, match="ends early"):
        oip._bytes_elements(raw[:-6], 3, "text")
    header = (
        b'{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "parameters": {"binary_data_size": %d}}]}'
        % len(raw)
    )
    request, tail = oip._request(header + raw, str(len(header)))
    assert oip._inputs(request, tail) == {"text": texts}
    with pytest.raises(BadRequest, match="datatype"):
        oip._inputs(
            {"inputs": [{"name": "text", "datatype": "FP32", "shape": [1], "data": [1]}]}, b""
        )


def test_raw_logits_invert_the_activation() -> None:
    logits = np.asarray([[-9.5], [-1.25], [0.0], [3.5], [12.0]], dtype=np.float32)
    sigmoid = 1 / (1 + np.exp(-logits.astype(np.float64)))
    back = raw_logits(sigmoid.astype(np.float32), "sigmoid")
    assert back == pytest.approx(logits, abs=2e-3)
    row = np.asarray([[2.0, 0.5, -1.0]])
    soft = np.exp(row) / np.exp(row).sum()
    diffs = np.diff(raw_logits(soft.astype(np.float32), "softmax"))
    assert diffs == pytest.approx(np.diff(row), abs=1e-5)


def test_relevance_order_keeps_ties_in_input_order() -> None:
    assert by_relevance([0.2, 0.9, 0.2, 0.5], None) == [1, 3, 0, 2]
    assert by_relevance([0.2, 0.9, 0.2, 0.5], 2) == [1, 3]
