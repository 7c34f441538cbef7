"""`/rerank` with a tiny one-logit cross-encoder exported by the CLI (`--pairs`) and served by
the real server: its order is the order of the model's own scores computed by hand with
transformers, in TEI's and in Cohere's/Jina's shapes; a thousand documents are split across
batches and still come back complete and in that order."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from pair_models import served

from service.backend.artifact import load_manifest
from training.data import sample_texts
from training.tiny_hf_models import export_tiny

pytestmark = pytest.mark.slow

QUERY = "central bank raises interest rates"
DOCUMENTS = list(sample_texts()[:40])


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return export_tiny("bert-cross-encoder", tmp_path_factory.mktemp("ce"), "--pairs")


@pytest.fixture(scope="module")
def url(cross_encoder: tuple[Path, Path]) -> Iterator[str]:
    with served(cross_encoder[1]) as base:
        yield base


def logits_by_hand(checkpoint: Path, query: str, documents: list[str]) -> np.ndarray:
    """The cross-encoder's logit per (query, document), with transformers, in batches of 64."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))  # type: ignore[no-untyped-call]
    model = AutoModelForSequenceClassification.from_pretrained(str(checkpoint)).eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(documents), 64):
            chunk = documents[i : i + 64]
            feeds = tokenizer(
                [query] * len(chunk), chunk, padding=True, truncation=True, return_tensors="pt"
            )
            out.append(model(**feeds).logits[:, 0].numpy())
    return np.concatenate(out).astype(np.float64)


def test_the_export_is_a_one_logit_pair_model(cross_encoder: tuple[Path, Path]) -> None:
    manifest = load_manifest(cross_encoder[1])
    assert manifest.pairs and manifest.labels == ["relevance"] and manifest.activation == "sigmoid"


def test_tei_rerank_order_equals_the_scores_by_hand(
    url: str, cross_encoder: tuple[Path, Path]
) -> None:
    logits = logits_by_hand(cross_encoder[0], QUERY, DOCUMENTS)
    scores = 1 / (1 + np.exp(-logits))
    order = np.argsort(-scores, kind="stable").tolist()
    assert len(set(np.round(scores, 4))) > 30  # distinct enough that the order means something
    reply = httpx.post(
        f"{url}/rerank", json={"query": QUERY, "texts": DOCUMENTS, "return_text": True}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    results = reply.json()
    assert [r["index"] for r in results] == order
    assert [r["score"] for r in results] == pytest.approx(scores[order].tolist(), abs=1e-4)
    assert all(r["text"] == DOCUMENTS[r["index"]] for r in results)
    raw = httpx.post(
        f"{url}/rerank",
        json={"query": QUERY, "texts": DOCUMENTS, "raw_scores": True},
        timeout=30,
    ).json()
    assert [r["index"] for r in raw] == order
    assert [r["score"] for r in raw] == pytest.approx(logits[order].tolist(), abs=1e-3)


def test_cohere_and_jina_shape(url: str, cross_encoder: tuple[Path, Path]) -> None:
    logits = logits_by_hand(cross_encoder[0], QUERY, DOCUMENTS)
    order = np.argsort(-logits, kind="stable").tolist()
    reply = httpx.post(
        f"{url}/v1/rerank",
        json={
            "model": "bert-cross-encoder-checkpoint",
            "query": QUERY,
            "documents": [{"text": d} for d in DOCUMENTS],
            "top_n": 5,
            "return_documents": True,
        },
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [r["index"] for r in body["results"]] == order[:5]
    assert [r["document"]["text"] for r in body["results"]] == [DOCUMENTS[i] for i in order[:5]]
    assert body["usage"]["total_tokens"] > 0 and body["model"] == "bert-cross-encoder-checkpoint"
    wrong = httpx.post(
        f"{url}/rerank", json={"model": "x", "query": QUERY, "documents": ["a"]}, timeout=30
    )
    assert wrong.status_code == 404


def _batches(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    match = re.search(r"^serve_batch_size_count(?:\{[^}]*\})? (\S+)$", text, re.M)
    assert match, "serve_batch_size_count is not in /metrics"
    return float(match.group(1))


def test_a_thousand_documents_are_split_across_batches(
    url: str, cross_encoder: tuple[Path, Path]
) -> None:
    documents = [f"{DOCUMENTS[i % 40]} {DOCUMENTS[i // 40]}" for i in range(1000)]  # distinct
    before = _batches(url)
    reply = httpx.post(f"{url}/rerank", json={"query": QUERY, "texts": documents}, timeout=60)
    assert reply.status_code == 200, reply.text
    results = reply.json()
    assert sorted(r["index"] for r in results) == list(range(1000))
    assert _batches(url) - before > 1
    logits = logits_by_hand(cross_encoder[0], QUERY, documents)
    scores = 1 / (1 + np.exp(-logits))
    got = np.asarray([r["score"] for r in results])
    assert np.all(np.diff(got) <= 0)  # sorted, highest first
    assert got == pytest.approx(np.sort(scores)[::-1], abs=1e-4)


def test_rerank_refuses_a_model_that_is_not_a_cross_encoder(tiny_artifact: Path) -> None:
    with served(tiny_artifact) as base:
        reply = httpx.post(f"{base}/rerank", json={"query": "q", "texts": ["a", "b"]}, timeout=30)
    assert reply.status_code == 400 and "one-logit" in reply.json()["error"]


def test_cohere_sdk_reranks_against_the_server(url: str, cross_encoder: tuple[Path, Path]) -> None:
    """Cohere's own Python SDK (v1 and v2 clients), pointed at the server."""
    import cohere

    logits = logits_by_hand(cross_encoder[0], QUERY, DOCUMENTS)
    order = np.argsort(-logits, kind="stable").tolist()
    name = "bert-cross-encoder-checkpoint"
    v2 = cohere.ClientV2(api_key="unused", base_url=url, max_retries=0)
    answer = v2.rerank(model=name, query=QUERY, documents=DOCUMENTS, top_n=5)
    assert [r.index for r in answer.results] == order[:5]
    scores = 1 / (1 + np.exp(-logits[order[:5]]))
    assert [r.relevance_score for r in answer.results] == pytest.approx(scores.tolist(), abs=1e-4)
    v1 = cohere.Client(api_key="unused", base_url=url, max_retries=0)
    old = v1.rerank(model=name, query=QUERY, documents=DOCUMENTS, top_n=3)
    assert [r.index for r in old.results] == order[:3]
