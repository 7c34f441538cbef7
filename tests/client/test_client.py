"""The Python client (client/headline_client) against the real server, sync and async: typed
answers for texts and pairs equal the server's own, big lists split to fit a payload limit the
server enforces, rerank across split requests, a JSON Lines file streamed through
/invocations, and retries that carry a load through a server forced to shed."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from headline_client import (
    AsyncClient,
    Client,
    MultiLabelPrediction,
    Prediction,
    RerankResult,
    RetryPolicy,
    ServerError,
)
from headline_client.bodies import classify_requests

from loadtests.local_server import local_server
from training.data import sample_texts
from training.tiny_hf_models import NLI_LABELS, export_tiny

pytestmark = pytest.mark.slow

ENV = {"SERVE_WORKERS": "1", "SERVE_DEVICE": "cpu", "SERVE_PRECISION": "fp32"}
TEXTS = list(sample_texts()[:60])
PAIRS = [(TEXTS[i], TEXTS[i + 1]) for i in range(0, 20, 2)]


@pytest.fixture(scope="module")
def nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny("bert-nli", tmp_path_factory.mktemp("nli"), "--pairs")[1]


@pytest.fixture(scope="module")
def url(nli: Path) -> Iterator[str]:
    # A payload limit of 2 KiB, so a list of 60 headlines must be split to get through.
    with local_server(
        nli, env={**ENV, "SERVE_MAX_PAYLOAD_MB": str(2048 / 2**20)}, ready_timeout=120
    ) as base:
        yield base


def server_scores(url: str, items: list[object]) -> list[dict[str, float]]:
    reply = httpx.post(
        f"{url}/invocations",
        json={"inputs": items, "parameters": {"return_all_scores": True}},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return [{r["label"]: r["score"] for r in answer} for answer in reply.json()]


def test_classify_gives_typed_answers_for_texts_and_pairs(url: str) -> None:
    items: list[str | tuple[str, str]] = [TEXTS[0], PAIRS[0], PAIRS[1]]
    wire: list[object] = [TEXTS[0], *({"text": a, "text_pair": b} for a, b in PAIRS[:2])]
    want = server_scores(url, wire)
    with Client(url) as client:
        answers = client.classify(items)
    assert all(isinstance(a, Prediction) for a in answers)
    for answer, scores in zip(answers, want, strict=True):
        assert isinstance(answer, Prediction)
        assert answer.scores == pytest.approx(scores, abs=1e-5)
        assert answer.label == max(scores, key=lambda k: scores[k])
        assert set(answer.scores) == set(NLI_LABELS)


def test_big_lists_are_split_to_fit_the_payload_limit(url: str) -> None:
    whole = httpx.post(f"{url}/invocations", json={"inputs": TEXTS}, timeout=30)
    assert whole.status_code == 413  # the server refuses the list in one body
    limit = 2048
    parts = classify_requests(TEXTS, {}, limit, 1024)
    assert len(parts) >= 2 and all(len(p.body) <= limit for p in parts)
    with Client(url, max_payload_bytes=limit) as client:
        answers = client.classify(TEXTS)
    assert len(answers) == len(TEXTS)
    expected = [s for i in range(0, 60, 10) for s in server_scores(url, list(TEXTS[i : i + 10]))]
    for answer, scores in zip(answers, expected, strict=True):
        assert answer.scores == pytest.approx(scores, abs=1e-5)


async def test_async_client_answers_the_same(url: str) -> None:
    async with AsyncClient(url, max_payload_bytes=2048) as client:
        answers = await client.classify([*TEXTS, *PAIRS])
    with Client(url, max_payload_bytes=2048) as sync:
        expected = sync.classify([*TEXTS, *PAIRS])
    assert len(answers) == len(expected)
    for answer, want in zip(answers, expected, strict=True):  # batched differently: float noise
        assert answer.scores == pytest.approx(want.scores, abs=1e-5)


def test_a_jsonlines_file_streams_through_invocations(url: str, tmp_path: Path) -> None:
    source, destination = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    records = [{"text": a, "text_pair": b, "id": i} for i, (a, b) in enumerate(PAIRS * 4)]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    with Client(url, max_payload_bytes=2048) as client:
        assert client.classify_file(source, destination) == len(records)
    lines = destination.read_text().splitlines()
    assert len(lines) == len(records)
    want = server_scores(url, [{"text": a, "text_pair": b} for a, b in PAIRS])
    for index, line in enumerate(lines):
        got = {r["label"]: r["score"] for r in json.loads(line)}
        assert got == pytest.approx(want[index % len(PAIRS)], abs=1e-5)


def test_errors_arrive_typed(url: str) -> None:
    with Client(url) as client, pytest.raises(ServerError) as error:
        client.classify(["   "])
    assert error.value.status == 422 and error.value.kind == "empty_text"


def test_rerank_split_across_requests_keeps_the_server_order(tmp_path: Path) -> None:
    artifact = export_tiny("bert-cross-encoder", tmp_path, "--pairs")[1]
    query = "central bank raises interest rates"
    with local_server(artifact, env=ENV, ready_timeout=120) as base:
        whole = httpx.post(f"{base}/rerank", json={"query": query, "texts": TEXTS}, timeout=30)
        with Client(base, max_items=7) as client:
            results = client.rerank(query, TEXTS, top_n=10)
            answers = client.classify([(query, TEXTS[0])])

        async def rerank_async() -> list[RerankResult]:
            async with AsyncClient(base, max_items=7) as client:
                return await client.rerank(query, TEXTS, top_n=10)

        async_results = asyncio.run(rerank_async())
    order = [r["index"] for r in whole.json()]
    assert [r.index for r in results] == order[:10]
    assert [r.document for r in results] == [TEXTS[i] for i in order[:10]]
    # Sent concurrently, the parts may share batches differently: scores agree to float noise.
    assert [r.index for r in async_results] == [r.index for r in results]
    assert [r.score for r in async_results] == pytest.approx([r.score for r in results], abs=1e-5)
    # A one-logit (sigmoid) model answers as a multi-label one: its score, and the label when
    # the score is above the threshold.
    assert isinstance(answers[0], MultiLabelPrediction) and list(answers[0].scores) == ["relevance"]


def test_retries_carry_a_load_through_a_server_forced_to_shed(nli: Path) -> None:
    """A queue of 8 texts and requests of 8: while one waits, every other one is shed (503,
    Retry-After). Without retries some fail; with the client's retries all are answered."""
    batch = TEXTS[:8]
    env = {**ENV, "SERVE_MAX_QUEUE_TEXTS": "8", "SERVE_MAX_BATCH_SIZE": "2"}

    def hammer(call: object, rounds: int = 4, threads: int = 6) -> list[object]:
        outcomes: list[object] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(rounds):
                try:
                    result: object = call()  # type: ignore[operator]
                except ServerError as exc:
                    result = exc
                with lock:
                    outcomes.append(result)

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return outcomes

    with local_server(nli, env=env, ready_timeout=120) as base:
        with httpx.Client(base_url=base, timeout=30) as raw:
            statuses = hammer(lambda: raw.post("/invocations", json={"inputs": batch}).status_code)
            shed = [s for s in statuses if s == 503]
            assert shed, f"the server never shed: {statuses}"
            retry_after = raw.post("/invocations", json={"inputs": batch}).headers
        policy = RetryPolicy(attempts=30, budget_s=60, retry_after_jitter=1.0)
        with Client(base, retry=policy) as client:
            outcomes = hammer(lambda: client.classify(batch))
            assert all(isinstance(o, list) and len(o) == 8 for o in outcomes), outcomes
            assert client.retries > 0
    assert "x-server-time" in retry_after
