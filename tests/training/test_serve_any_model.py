"""Any Hugging Face classifier, exported through the CLI and served by the real server,
answers as `transformers.pipeline("text-classification")` does on the same texts: the same
labels, fp32 scores within 1e-4. Tiny random models of several architectures, no hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtests.local_server import local_server
from training.tiny_hf_models import BUILDERS, export_tiny

TEXTS = [
    "Stocks rally as the central bank holds rates",
    "New vaccine trial shows promise",
    "Striker scores twice as champions extend their lead at the top of the table",
    "Chip maker unveils a faster processor for phones and laptops",
]

pytestmark = pytest.mark.slow


def _pipeline_scores(model_dir: Path, multi_label: bool) -> list[dict[str, float]]:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(model_dir), device="cpu")
    function = "sigmoid" if multi_label else "softmax"
    answers: Any = classify(TEXTS, top_k=None, function_to_apply=function)
    return [{a["label"]: float(a["score"]) for a in answer} for answer in answers]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_served_answers_match_the_transformers_pipeline(name: str, tmp_path: Path) -> None:
    model_dir, artifact = export_tiny(name, tmp_path)
    multi_label = "multilabel" in name
    expected = _pipeline_scores(model_dir, multi_label)
    env = {"SERVE_WORKERS": "1", "SERVE_DEVICE": "cpu", "SERVE_PRECISION": "fp32"}
    with local_server(artifact, env=env, ready_timeout=120) as url:
        reply = httpx.post(
            f"{url}/invocations",
            json={"inputs": TEXTS, "parameters": {"return_all_scores": True}},
            timeout=30,
        )
        top1 = httpx.post(f"{url}/invocations", json={"inputs": TEXTS}, timeout=30).json()
    assert reply.status_code == 200, reply.text
    for text, answer, want in zip(TEXTS, reply.json(), expected, strict=True):
        rows = answer["scores"] if multi_label else answer
        got = {row["label"]: row["score"] for row in rows}
        assert got.keys() == want.keys(), text
        assert [got[k] for k in want] == pytest.approx([want[k] for k in want], abs=1e-4), text
    for answer, want in zip(top1, expected, strict=True):
        best = max(want, key=lambda label: want[label])
        if multi_label:
            assert answer["scores"][0]["label"] == best
            assert answer["labels"] == [
                k for k, v in sorted(want.items(), key=lambda kv: -kv[1]) if v > 0.5
            ]
        else:
            assert answer["label"] == best
