"""`train --base-model` with encoders other than the default: the same exporter records what
each one takes (token types for BERT, pad id 1 for RoBERTa), and a seq2seq base is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BartConfig, BartForSequenceClassification

from service.backend.artifact import load_manifest
from service.backend.tokenizer import TextEncoder
from training.cli import main
from training.data import sample_texts
from training.onnx_check import OnnxClassifier
from training.tiny_hf_models import BUILDERS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "takes_token_types", "pad_id"), [("bert", True, 0), ("roberta", False, 1)]
)
def test_train_on_another_encoder_records_its_inputs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    takes_token_types: bool,
    pad_id: int,
) -> None:
    base = BUILDERS[name](tmp_path / "base")
    output = tmp_path / "model"
    code = main(
        [
            "train",
            "--output", str(output),
            "--base-model", str(base),
            "--epochs", "1",
            "--max-steps", "3",
            "--max-length", "32",
            "--cpu-variant", "fp32",
            "--no-freeze-embeddings",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "\r" not in captured.err, "no carriage-return redraws off a terminal"
    manifest = load_manifest(output)
    assert manifest.architecture == name
    assert ("token_type_ids" in manifest.input_names) is takes_token_types
    assert manifest.pad_token_id == pad_id and manifest.max_length == 32
    assert manifest.labels == ["business", "entertainment", "health", "scitech"]
    assert manifest.variants["fp32"].parity["max_abs_logit_diff"] <= 1e-4
    assert "fp16" in manifest.variants and manifest.variants["fp16"].verified_on in ([], ["cuda"])
    encoder = TextEncoder.for_artifact(output, manifest)
    logits = OnnxClassifier(output / "model.onnx", encoder).logits(list(sample_texts()[:8]))
    assert logits.shape == (8, 4)


def test_a_seq2seq_base_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    config = BartConfig(  # type: ignore[no-untyped-call]
        vocab_size=64,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
    )
    BartForSequenceClassification(config).save_pretrained(tmp_path / "bart")
    BUILDERS["bert"](tmp_path / "tok")  # a fast tokenizer beside it, so the model is the issue
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (tmp_path / "bart" / name).write_bytes((tmp_path / "tok" / name).read_bytes())
    code = main(["train", "--base-model", str(tmp_path / "bart"), "--output", str(tmp_path / "a")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "encoder-decoder (seq2seq)" in err
