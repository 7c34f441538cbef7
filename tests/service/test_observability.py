"""What a model owner watches, through the real app on a real model: predictions per label,
confidence, input length, truncation and failed batches. Cardinality: one `serve_predictions`
series per label; the rest are single series or fixed-bucket histograms."""

from __future__ import annotations

import re
from pathlib import Path

from service_helpers import serving

from service.backend.artifact import load_manifest


def _value(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", metrics, re.MULTILINE)
    assert match, f"{name} not exported"
    return float(match.group(1))


async def test_drift_metrics_count_every_text_once_by_its_top_label(tiny_artifact: Path) -> None:
    labels = load_manifest(tiny_artifact).labels
    texts = ["markets fall", "team wins the final", "new phone released", "election results"]
    async for client in serving(tiny_artifact, device="cpu"):
        answers = []
        for _ in range(3):
            reply = await client.post("/invocations", json={"inputs": texts})
            assert reply.status_code == 200
            answers += [a["label"] for a in reply.json()]
        metrics = (await client.get("/metrics")).text
    per_label = {
        label: _value(metrics, f'serve_predictions_total{{label="{label}"}}') for label in labels
    }
    assert sum(per_label.values()) == len(answers) == 12
    assert all(per_label[label] == answers.count(label) for label in labels)
    assert _value(metrics, "serve_prediction_confidence_count") == 12
    assert _value(metrics, "serve_input_tokens_count") == 12
    assert _value(metrics, "serve_truncated_texts_total") == 0
    assert _value(metrics, "serve_failed_batches_total") == 0
    assert len(re.findall(r"^serve_predictions_total\{", metrics, re.MULTILINE)) == len(labels)
    assert 'plan="cpu/' in metrics  # the execution plan, in the model-info metric
