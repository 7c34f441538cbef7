"""Long texts under each policy, and multi-label answers, through the real app on a real model.

The model takes 32 tokens; the texts here are far longer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from service_helpers import serving

from service.backend.artifact import load_manifest, write_manifest
from service.backend.segmenter import Segmenter

LONG = " ".join(
    f"the {w} market report says shares rose while the team won the cup"
    for w in ("first", "second", "third", "fourth", "fifth", "sixth", "seventh")
)
SHORT = "shares rose"


def _run(model_dir: Path, windows: list[list[int]], sigmoid: bool = False) -> np.ndarray:
    """The fp32 graph on each window alone (no padding): the scores by hand."""
    session = ort.InferenceSession(
        str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    rows = []
    for ids in windows:
        feed = np.array([ids], dtype=np.int64)
        logits = session.run(["logits"], {"input_ids": feed, "attention_mask": np.ones_like(feed)})
        row = logits[0][0].astype(np.float64)
        rows.append(
            1 / (1 + np.exp(-row))
            if sigmoid
            else np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        )
    return np.array(rows)


def _windows(model_dir: Path, text: str, stride: int) -> list[list[int]]:
    manifest = load_manifest(model_dir)
    segmenter = Segmenter(model_dir / manifest.tokenizer, manifest.max_length, stride=stride)
    return segmenter.segment([text], "chunk")[0].windows


@pytest.fixture(scope="module")
def multi_label_artifact(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same graph declared multi-label: sigmoid scores, an independent score per label."""
    out = tmp_path_factory.mktemp("multi-label") / "model"
    shutil.copytree(tiny_artifact, out)
    manifest = load_manifest(out)
    manifest.activation = "sigmoid"
    write_manifest(out, manifest)
    return out


async def test_chunked_answer_is_the_mean_over_its_windows(tiny_artifact: Path) -> None:
    windows = _windows(tiny_artifact, LONG, stride=8)
    assert len(windows) > 3  # really long for this model
    expected = _run(tiny_artifact, windows).mean(axis=0)
    labels = load_manifest(tiny_artifact).labels
    async for client in serving(tiny_artifact, device="cpu", chunk_stride=8, max_wait_ms=20):
        reply = await client.post(
            "/invocations",
            json={
                "inputs": [SHORT, LONG],
                "parameters": {"truncation": "chunk", "return_all_scores": True, "details": True},
            },
        )
    assert reply.status_code == 200 and reply.headers["x-truncated-texts"] == "0"
    short, long = reply.json()
    got = {s["label"]: s["score"] for s in long["scores"]}
    assert [got[label] for label in labels] == pytest.approx(expected.tolist(), abs=1e-4)
    assert (long["windows"], long["truncated"], short["windows"]) == (len(windows), False, 1)


async def test_a_text_longer_than_the_batch_token_budget_is_served(tiny_artifact: Path) -> None:
    """A 16-token budget holds no 32-token window: each still runs, alone."""
    async for client in serving(tiny_artifact, device="cpu", max_batch_tokens=16):
        for policy in ("right", "chunk"):
            reply = await client.post(
                "/invocations", json={"inputs": LONG, "parameters": {"truncation": policy}}
            )
            assert reply.status_code == 200, reply.text


async def test_right_keeps_the_start_left_keeps_the_end_error_refuses(tiny_artifact: Path) -> None:
    windows = _windows(tiny_artifact, LONG, stride=0)
    start = _run(tiny_artifact, [windows[0]])[0]
    async for client in serving(tiny_artifact, device="cpu"):
        answers = {}
        for policy in ("right", "left"):
            reply = await client.post(
                "/invocations",
                json={
                    "inputs": [LONG, SHORT],
                    "parameters": {
                        "truncation": policy,
                        "return_all_scores": True,
                        "details": True,
                    },
                },
            )
            assert reply.status_code == 200 and reply.headers["x-truncated-texts"] == "1"
            answers[policy] = reply.json()
        refused = await client.post(
            "/invocations", json={"inputs": [SHORT, LONG], "parameters": {"truncation": "error"}}
        )
        by_header = await client.post(
            "/invocations",
            json={"inputs": LONG},
            headers={"X-Amzn-SageMaker-Custom-Attributes": "truncation=error"},
        )
        bad = await client.post(
            "/invocations", json={"inputs": LONG, "parameters": {"truncation": "middle"}}
        )
        metrics = (await client.get("/metrics")).text
    right, left = answers["right"][0], answers["left"][0]
    assert right["truncated"] and right["tokens"] > 32 and not answers["right"][1]["truncated"]
    assert [s["score"] for s in right["scores"]] == pytest.approx(start.tolist(), abs=1e-4)
    assert [s["score"] for s in left["scores"]] != pytest.approx(start.tolist(), abs=1e-4)
    assert refused.status_code == 422 and refused.json()["type"] == "text_too_long"
    assert (
        "text 1 has" in refused.json()["error"]
        and f"{right['tokens']} tokens" in refused.json()["error"]
    )
    assert by_header.status_code == 422
    assert bad.status_code == 400 and "truncation" in bad.json()["error"]
    assert "serve_truncated_texts_total 2.0" in metrics


async def test_a_text_over_the_character_cap_is_413(tiny_artifact: Path) -> None:
    async for client in serving(tiny_artifact, device="cpu", max_text_chars=100):
        reply = await client.post("/invocations", json={"inputs": [SHORT, "x" * 101]})
    assert reply.status_code == 413 and "text 1 has 101 characters" in reply.json()["error"]


async def test_multi_label_answers_every_label_and_those_above_the_threshold(
    multi_label_artifact: Path,
) -> None:
    windows = _windows(multi_label_artifact, LONG, stride=8)
    by_hand = _run(multi_label_artifact, windows, sigmoid=True).max(axis=0)
    labels = load_manifest(multi_label_artifact).labels
    async for client in serving(multi_label_artifact, device="cpu", chunk_stride=8):
        plain = (await client.post("/invocations", json={"inputs": [SHORT]})).json()[0]
        low = await client.post(
            "/invocations", json={"inputs": [SHORT], "parameters": {"threshold": 0.0}}
        )
        high = await client.post(
            "/invocations",
            json={"inputs": [SHORT]},
            headers={"X-Amzn-SageMaker-Custom-Attributes": "threshold=1"},
        )
        chunked = await client.post(
            "/invocations", json={"inputs": LONG, "parameters": {"truncation": "chunk"}}
        )
    scores = [s["score"] for s in plain["scores"]]
    assert sorted(s["label"] for s in plain["scores"]) == sorted(labels)
    assert scores == sorted(scores, reverse=True) and sum(scores) != pytest.approx(1.0)
    assert plain["labels"] == [s["label"] for s in plain["scores"] if s["score"] > 0.5]
    assert low.json()[0]["labels"] == [s["label"] for s in plain["scores"]]
    assert high.json()[0]["labels"] == []
    got = {s["label"]: s["score"] for s in chunked.json()[0]["scores"]}
    assert [got[label] for label in labels] == pytest.approx(by_hand.tolist(), abs=1e-4)
