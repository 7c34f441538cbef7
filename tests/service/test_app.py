"""The app in-process with its lifespan running, on a real tiny exported model."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from service_helpers import running, serving
from tokenizers import Tokenizer

from service.api.app import create_app
from service.backend.artifact import load_manifest
from service.backend.plan import plan_for
from service.backend.session import OnnxBackend
from service.settings import Settings

TEXTS = [
    "Stocks rally as the central bank holds rates",
    "New vaccine trial shows promise in early patients",
    "Striker scores twice as champions extend their lead at the top of the table this weekend",
    "Chip maker unveils faster processor",
]


def reference_probs(model_dir: Path, text: str) -> np.ndarray:
    """The model run by hand, one text, no padding: what the server must reproduce."""
    manifest = load_manifest(model_dir)
    tokenizer = Tokenizer.from_file(str(model_dir / manifest.tokenizer))
    tokenizer.enable_truncation(manifest.max_length)
    ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
    session = ort.InferenceSession(
        str(model_dir / manifest.variants["fp32"].file), providers=["CPUExecutionProvider"]
    )
    logits = session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
    exp = np.exp(logits - logits.max())
    probs: np.ndarray = exp / exp.sum()
    return probs


async def test_predictions_match_the_model_run_by_hand_despite_padding(tiny_artifact: Path) -> None:
    labels = load_manifest(tiny_artifact).labels
    async for client in serving(tiny_artifact, device="cpu", max_wait_ms=50):
        # Concurrent requests of different lengths land in shared, padded batches.
        single, multi = await asyncio.gather(
            client.post("/invocations", json={"inputs": TEXTS[0]}),
            client.post(
                "/invocations", json={"inputs": TEXTS, "parameters": {"return_all_scores": True}}
            ),
        )
    assert single.status_code == 200 and multi.status_code == 200
    expected = [reference_probs(tiny_artifact, t) for t in TEXTS]
    top = single.json()
    assert top == [
        {
            "label": labels[int(expected[0].argmax())],
            "score": pytest.approx(float(expected[0].max()), abs=1e-5),
        }
    ]
    for row, probs in zip(multi.json(), expected, strict=True):
        assert [p["label"] for p in row] == labels
        assert [p["score"] for p in row] == pytest.approx(probs.tolist(), abs=1e-5)


async def test_headers_options_and_formats(tiny_artifact: Path) -> None:
    async for client in serving(tiny_artifact):
        response = await client.post(
            "/invocations",
            content=b'"first, with comma"\nsecond\n',
            headers={
                "content-type": "text/csv",
                "accept": "application/jsonlines",
                "x-amzn-sagemaker-custom-attributes": "top_k=2",
                "x-request-id": "req-42",
            },
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/jsonlines")
        assert response.headers["x-request-id"] == "req-42"
        assert response.headers["x-amzn-sagemaker-custom-attributes"] == "top_k=2"
        for name in ("x-queue-time", "x-inference-time", "x-tokenization-time"):
            assert float(response.headers[name]) >= 0
        lines = response.text.splitlines()
        assert len(lines) == 2 and all(len(__import__("json").loads(line)) == 2 for line in lines)

        plain = await client.post(
            "/invocations",
            content="just one text",
            headers={"content-type": "text/plain", "accept": "text/csv"},
        )
        label, score = plain.text.strip().split(",")
        assert label in load_manifest(tiny_artifact).labels and 0 < float(score) <= 1
        assert (
            len((await client.post("/invocations", json={"inputs": "x"})).headers["x-request-id"])
            == 32
        )

        params = await client.get("/execution-parameters")
        assert params.json()["BatchStrategy"] == "MULTI_RECORD"
        assert params.json()["MaxConcurrentTransforms"] == 8  # one worker: 8 in flight

        metrics = (await client.get("/metrics")).text
        assert 'serve_requests_total{status="200"} 3.0' in metrics
        assert "serve_batch_size_count" in metrics and 'provider="CPUExecutionProvider"' in metrics


async def test_ping_is_503_until_warm_then_200_then_503_while_draining(tiny_artifact: Path) -> None:
    release = threading.Event()

    settings = Settings(model_dir=tiny_artifact, device="cpu")
    plan = plan_for(settings, single_process=True)

    def slow_load() -> OnnxBackend:
        release.wait(10)
        return OnnxBackend(tiny_artifact, plan)

    app = create_app(settings, load_model=slow_load)
    async with running(app, wait_ready=False) as client:
        loading = await client.get("/ping")
        assert loading.status_code == 503 and loading.json()["type"] == "not_ready"
        refused = await client.post("/invocations", json={"inputs": "too early"})
        assert refused.status_code == 503 and refused.headers["retry-after"]
        release.set()
        for _ in range(200):
            if (await client.get("/ping")).status_code == 200:
                break
            await asyncio.sleep(0.02)
        ready = await client.get("/ping")
        assert ready.status_code == 200 and ready.content == b""
        app.state.predictor.begin_drain()
        assert (await client.get("/ping")).status_code == 503
        # A request already in flight when draining starts is still answered...
        assert (await client.post("/invocations", json={"inputs": "in flight"})).status_code == 200
        await app.state.predictor.batcher.stop(5)
        # ...but once the batcher has stopped nothing more is admitted.
        assert (await client.post("/invocations", json={"inputs": "late"})).status_code == 503


async def test_an_artifact_that_cannot_be_served_keeps_ping_503(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"format_version": 99}')
    app = create_app(Settings(model_dir=tmp_path))
    async with running(app, wait_ready=False) as client:
        for _ in range(100):
            if app.state.predictor.status != "loading":
                break
            await asyncio.sleep(0.02)
        ping = await client.get("/ping")
        assert ping.status_code == 503 and "cannot be served" in ping.json()["error"]


async def test_when_the_batcher_dies_ping_turns_503(tiny_artifact: Path) -> None:
    app = create_app(Settings(model_dir=tiny_artifact))
    async with running(app) as client:
        batcher = app.state.predictor.batcher
        batcher._take = lambda: 1 / 0  # a bug in batch formation kills the loop
        # Nine texts are more than one batch, so they go through the batcher's loop (a lone
        # small request may run at once without it).
        dead = await client.post("/invocations", json={"inputs": ["boom"] * 9})
        assert dead.status_code == 503 and dead.json()["type"] == "not_ready"
        assert (await client.get("/ping")).status_code == 503
