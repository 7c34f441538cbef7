"""The request mix: weights, batch sizes and the bodies of each content type."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter

import pytest

from loadtests.traffic import TrafficError, TrafficGenerator, encode, parse_mix

TEXTS = ("first, with a comma", 'a "quoted" word', "plain", "four", "five")


def test_parse_mix_reads_weights_and_rejects_nonsense() -> None:
    assert parse_mix("json_single=6, csv_batch=1") == {"json_single": 6.0, "csv_batch": 1.0}
    for bad, message in [
        ("json_single", "KIND=WEIGHT"),
        ("xml=1", "KIND=WEIGHT"),
        ("json_single=lots", "not a number"),
        ("json_single=-1", "negative"),
        ("json_single=0", "positive weight"),
    ]:
        with pytest.raises(TrafficError, match=message):
            parse_mix(bad)


def test_bodies_follow_the_contract_and_keep_texts_intact() -> None:
    content_type, body = encode("json_single", TEXTS[:1])
    assert content_type == "application/json" and json.loads(body) == {"inputs": TEXTS[0]}
    content_type, body = encode("json_batch", TEXTS)
    assert json.loads(body) == {"inputs": list(TEXTS)}
    content_type, body = encode("csv_batch", TEXTS)
    assert content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert [row[0] for row in rows] == list(TEXTS) and all(len(row) == 1 for row in rows)


def test_generator_draws_kinds_by_weight_and_batches_within_bounds() -> None:
    generator = TrafficGenerator(
        TEXTS, parse_mix("json_single=3,json_batch=1"), 2, 4, random.Random(7)
    )
    calls = [generator.next() for _ in range(2000)]
    kinds = Counter(call.kind for call in calls)
    assert set(kinds) == {"json_single", "json_batch"}
    assert 0.70 < kinds["json_single"] / len(calls) < 0.80
    assert {len(c.texts) for c in calls if c.kind == "json_batch"} == {2, 3, 4}
    assert all(len(c.texts) == 1 for c in calls if c.kind == "json_single")
    assert calls[0].name.startswith("/invocations ")


def test_generator_rejects_impossible_batch_bounds() -> None:
    with pytest.raises(TrafficError, match="batch sizes"):
        TrafficGenerator(TEXTS, parse_mix("json_batch=1"), 5, 2)
