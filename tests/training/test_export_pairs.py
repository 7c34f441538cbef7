"""`export --pairs`: a one-logit cross-encoder is taken only as a pair model, its parity gate
runs on pairs (a graph fed the wrong token type ids fails it), and the manifest says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from service.backend.artifact import load_manifest
from service.backend.tokenizer import TextEncoder
from training.cli import main
from training.errors import ExportError
from training.export import Judge, fp32_parity
from training.export_model import check_pairs, check_texts, predict_pair_logits
from training.onnx_check import OnnxClassifier
from training.tiny_hf_models import PAIR_BUILDERS, export_tiny


def test_a_one_logit_model_needs_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = PAIR_BUILDERS["bert-cross-encoder"](tmp_path / "ce")
    args = ["export", "--model", str(checkpoint), "--output", str(tmp_path / "out")]
    assert main([*args, "--cpu-variant", "fp32", "--fp16", "off"]) == 2
    assert "regression head" in capsys.readouterr().err


def test_the_pair_export_is_checked_on_pairs(tmp_path: Path) -> None:
    checkpoint, artifact = export_tiny("bert-nli", tmp_path, "--pairs", "--fp16", "off")
    manifest = load_manifest(artifact)
    assert manifest.pairs
    parity = json.loads((artifact / "metrics.json").read_text())["export"]["parity"]["fp32"]
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))  # type: ignore[no-untyped-call]
    pairs = check_pairs(check_texts([], tokenizer, manifest.max_length))
    assert parity["texts"] == len(pairs) and parity["max_abs_logit_diff"] <= 1e-4
    # The same gate fails a graph fed zeros for the second text's token type ids.
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(checkpoint)).eval()
    reference = predict_pair_logits(model, tokenizer, pairs, max_length=manifest.max_length)
    classifier = OnnxClassifier(
        artifact / "model.onnx", TextEncoder.for_artifact(artifact, manifest)
    )
    feeds = classifier.feeds(pairs)
    feeds["token_type_ids"][:] = 0
    untyped = np.asarray(classifier.session.run(["logits"], feeds)[0])
    with pytest.raises(ExportError, match="parity failed"):
        fp32_parity(untyped, reference, Judge("softmax", None))
