"""A tiny sentence-pair model (natural-language inference's three labels, BERT with token
types), exported by the CLI with `--pairs` and served by the real server, answers through
`/invocations` (JSON, JSON Lines, CSV), vLLM's `/classify`, TEI's `/predict` and OIP v2's
`/v2/models/{name}/infer` as `transformers.pipeline` does on the same pairs: every label's
score within 1e-4, long pairs cut `longest_first`, or `only_second` when a request asks."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pair_models import pipeline_scores, sample_pairs, served

from service.backend.artifact import load_manifest
from service.backend.tokenizer import TextEncoder
from training.onnx_check import OnnxClassifier
from training.tiny_hf_models import NLI_LABELS, export_tiny

pytestmark = pytest.mark.slow

PAIRS = sample_pairs()
SHORT_AND_LONG = [(PAIRS[0][0], " ".join([PAIRS[1][1]] * 30))]
"""A short first text and a very long second one: `only_second` keeps the first whole."""


@pytest.fixture(scope="module")
def nli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return export_tiny("bert-nli", tmp_path_factory.mktemp("nli"), "--pairs")


@pytest.fixture(scope="module")
def expected(nli: tuple[Path, Path]) -> list[dict[str, float]]:
    scores: list[dict[str, float]] = pipeline_scores(nli[0], PAIRS)
    return scores


@pytest.fixture(scope="module")
def url(nli: tuple[Path, Path]) -> Iterator[str]:
    with served(nli[1]) as base:
        yield base


def close(got: dict[str, float], want: dict[str, float]) -> None:
    assert got.keys() == want.keys()
    assert [got[k] for k in want] == pytest.approx([want[k] for k in want], abs=1e-4)


def test_the_manifest_records_pairs_and_the_type_ids_matter(nli: tuple[Path, Path]) -> None:
    """Without the pair's token type ids the model answers differently: the comparisons below
    could fail if the server fed zeros."""
    manifest = load_manifest(nli[1])
    assert manifest.pairs and "token_type_ids" in manifest.input_names
    assert manifest.labels == NLI_LABELS
    model = OnnxClassifier(nli[1] / "model.onnx", TextEncoder.for_artifact(nli[1], manifest))
    feeds = model.feeds(PAIRS)
    assert feeds["token_type_ids"].any()
    typed = model.session.run(["logits"], feeds)[0]
    feeds["token_type_ids"][:] = 0
    untyped = model.session.run(["logits"], feeds)[0]
    assert np.abs(typed - untyped).max() > 1e-2


def test_invocations_json_answers_like_the_pipeline(
    url: str, expected: list[dict[str, float]]
) -> None:
    body = {
        "inputs": [{"text": a, "text_pair": b} for a, b in PAIRS],
        "parameters": {"return_all_scores": True, "details": True},
    }
    reply = httpx.post(f"{url}/invocations", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    answers = reply.json()
    for answer, want in zip(answers, expected, strict=True):
        close({row["label"]: row["score"] for row in answer["scores"]}, want)
    assert answers[-1]["truncated"] and not answers[0]["truncated"]
    assert int(reply.headers["x-truncated-texts"]) == 1


def test_jsonlines_and_csv_pairs_answer_the_same(
    url: str, expected: list[dict[str, float]]
) -> None:
    lines = "".join(json.dumps({"text": a, "text_pair": b}) + "\n" for a, b in PAIRS)
    out = io.StringIO()
    csv.writer(out).writerows(PAIRS)
    for media, body in (("application/jsonlines", lines), ("text/csv", out.getvalue())):
        reply = httpx.post(
            f"{url}/invocations",
            content=body.encode(),
            headers={
                "content-type": media,
                "accept": "application/json",
                "x-amzn-sagemaker-custom-attributes": "return_all_scores=true",
            },
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        for answer, want in zip(reply.json(), expected, strict=True):
            close({row["label"]: row["score"] for row in answer}, want)


def test_pairs_and_single_texts_share_a_request(
    url: str, nli: tuple[Path, Path], expected: list[dict[str, float]]
) -> None:
    """Pairs and single texts are batched together; each still answers as alone."""
    from transformers import pipeline

    single = "Stocks rally as the central bank holds rates"
    classify = pipeline("text-classification", model=str(nli[0]), device="cpu")
    alone: Any = classify(single, top_k=None)
    want_single = {a["label"]: a["score"] for a in alone}
    body = {
        "inputs": [single, {"text": PAIRS[0][0], "text_pair": PAIRS[0][1]}],
        "parameters": {"return_all_scores": True},
    }
    answers = httpx.post(f"{url}/invocations", json=body, timeout=30).json()
    close({row["label"]: row["score"] for row in answers[0]}, want_single)
    close({row["label"]: row["score"] for row in answers[1]}, expected[0])


def test_only_second_truncation_per_request(url: str, nli: tuple[Path, Path]) -> None:
    want_only_second = pipeline_scores(nli[0], SHORT_AND_LONG, truncation="only_second")[0]
    want_longest = pipeline_scores(nli[0], SHORT_AND_LONG)[0]
    body = {"inputs": [{"text": a, "text_pair": b} for a, b in SHORT_AND_LONG]}
    for truncation, want in (("only_second", want_only_second), ("longest_first", want_longest)):
        reply = httpx.post(
            f"{url}/invocations",
            json={**body, "parameters": {"return_all_scores": True, "truncation": truncation}},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        close({row["label"]: row["score"] for row in reply.json()[0]}, want)
    refused = httpx.post(
        f"{url}/invocations",
        json={**body, "parameters": {"truncation": "error"}},
        timeout=30,
    )
    assert refused.status_code == 422 and refused.json()["type"] == "text_too_long"


def test_only_second_refuses_a_first_text_too_long_for_the_model(url: str) -> None:
    """`only_second` may not cut the first text: a first text longer than the model takes is a
    422 naming the pair, not a 500 from the tokenizer."""
    long_first, short_second = SHORT_AND_LONG[0][1], SHORT_AND_LONG[0][0]
    reply = httpx.post(
        f"{url}/invocations",
        json={
            "inputs": [{"text": long_first, "text_pair": short_second}],
            "parameters": {"truncation": "only_second"},
        },
        timeout=30,
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["type"] == "text_too_long"
    assert "cannot be cut" in reply.json()["error"]


def test_classify_answers_like_the_pipeline(url: str, expected: list[dict[str, float]]) -> None:
    reply = httpx.post(
        f"{url}/classify",
        json={
            "model": "bert-nli-checkpoint",
            "input": [{"text": a, "text_pair": b} for a, b in PAIRS],
        },
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["object"] == "list" and answer["usage"]["prompt_tokens"] > 0
    for row, want in zip(answer["data"], expected, strict=True):
        assert row["num_classes"] == 3
        close(dict(zip(NLI_LABELS, row["probs"], strict=True)), want)
        assert row["label"] == max(want, key=lambda k: want[k])
    wrong = httpx.post(f"{url}/classify", json={"model": "other", "input": "x"}, timeout=30)
    assert wrong.status_code == 404 and wrong.json()["type"] == "model_not_found"


def test_tei_predict_answers_like_the_pipeline(
    url: str, expected: list[dict[str, float]], nli: tuple[Path, Path]
) -> None:
    batch = httpx.post(
        f"{url}/predict", json={"inputs": [list(p) for p in PAIRS]}, timeout=30
    ).json()
    for rows, want in zip(batch, expected, strict=True):
        assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
        close({r["label"]: r["score"] for r in rows}, want)
    one = httpx.post(f"{url}/predict", json={"inputs": list(PAIRS[0])}, timeout=30).json()
    close({r["label"]: r["score"] for r in one}, expected[0])
    raw = httpx.post(
        f"{url}/predict", json={"inputs": list(PAIRS[0]), "raw_scores": True}, timeout=30
    ).json()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(nli[0]))  # type: ignore[no-untyped-call]
    model = AutoModelForSequenceClassification.from_pretrained(str(nli[0]))
    logits = model(**tokenizer(*PAIRS[0], return_tensors="pt")).logits[0].detach().numpy()
    # Raw scores are log-softmax: the logits less one constant, so their differences hold.
    got = {r["label"]: r["score"] for r in raw}
    for i, label in enumerate(NLI_LABELS[1:], start=1):
        diff = got[label] - got[NLI_LABELS[0]]
        assert diff == pytest.approx(float(logits[i] - logits[0]), abs=1e-3)
    too_long = httpx.post(
        f"{url}/predict", json={"inputs": list(PAIRS[-1]), "truncate": False}, timeout=30
    )
    assert too_long.status_code == 422


def test_oip_v2_infer_answers_like_the_pipeline(url: str, expected: list[dict[str, float]]) -> None:
    name = "bert-nli-checkpoint"
    body = {
        "inputs": [
            {
                "name": "text",
                "datatype": "BYTES",
                "shape": [len(PAIRS)],
                "data": [a for a, _ in PAIRS],
            },
            {
                "name": "text_pair",
                "datatype": "BYTES",
                "shape": [len(PAIRS)],
                "data": [b for _, b in PAIRS],
            },
        ]
    }
    reply = httpx.post(f"{url}/v2/models/{name}/infer", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    outputs = {o["name"]: o for o in reply.json()["outputs"]}
    scores = np.asarray(outputs["scores"]["data"]).reshape(outputs["scores"]["shape"])
    for row, label, want in zip(scores, outputs["label"]["data"], expected, strict=True):
        close(dict(zip(NLI_LABELS, row.tolist(), strict=True)), want)
        assert label == max(want, key=lambda k: want[k])
    assert httpx.get(f"{url}/v2/models/{name}/ready").status_code == 200
    assert httpx.get(f"{url}/v2/models/other/ready").status_code == 404
    metadata = httpx.get(f"{url}/v2/models/{name}").json()
    assert [i["name"] for i in metadata["inputs"]] == ["text", "text_pair"]


def test_streamed_bodies_carry_pairs(url: str, expected: list[dict[str, float]]) -> None:
    """A body of unknown length (chunked) takes the streaming path: pairs answer the same."""
    lines = "".join(json.dumps({"text": a, "text_pair": b}) + "\n" for a, b in PAIRS)
    out = io.StringIO()
    csv.writer(out).writerows(PAIRS)
    for media, body in (("application/jsonlines", lines), ("text/csv", out.getvalue())):
        reply = httpx.post(
            f"{url}/invocations",
            content=iter([body.encode()]),  # no Content-Length: streamed
            headers={
                "content-type": media,
                "accept": "application/jsonlines",
                "x-amzn-sagemaker-custom-attributes": "return_all_scores=true",
            },
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        rows = [json.loads(line) for line in reply.text.splitlines()]
        for answer, want in zip(rows, expected, strict=True):
            close({row["label"]: row["score"] for row in answer}, want)
