"""`python -m training export`: refusals in one line, --max-length, the int8 tolerance, and
the manifest fields' defaults for artifacts written before them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import (
    BartConfig,
    BartForSequenceClassification,
    BertConfig,
    BertForMaskedLM,
)

from service.backend.artifact import Manifest, load_manifest
from service.backend.tokenizer import TextEncoder
from training.cli import main
from training.tiny_hf_models import BUILDERS, LABELS, SHAPE, wordpiece_tokenizer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return BUILDERS["bert"](tmp_path_factory.mktemp("bert"))


def _bert_fast_tokenizer_into(path: Path) -> None:
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece_tokenizer(), pad_token="[PAD]")  # type: ignore[no-untyped-call]
    tokenizer.save_pretrained(path)


def _refusal(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    return err


def test_seq2seq_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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
        num_labels=2,
    )
    BartForSequenceClassification(config).save_pretrained(tmp_path / "bart")
    err = _refusal(
        ["export", "--model", str(tmp_path / "bart"), "--output", str(tmp_path / "a")], capsys
    )
    assert "encoder-decoder (seq2seq)" in err
    assert not (tmp_path / "a").exists()


def test_a_head_that_is_not_a_classifier_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = BertConfig(vocab_size=600, intermediate_size=64, **SHAPE)  # type: ignore[no-untyped-call]
    BertForMaskedLM(config).save_pretrained(tmp_path / "mlm")  # type: ignore[no-untyped-call]
    _bert_fast_tokenizer_into(tmp_path / "mlm")
    err = _refusal(["export", "--model", str(tmp_path / "mlm")], capsys)
    assert "BertForMaskedLM checkpoint, not a sequence classifier" in err


def test_a_checkpoint_without_a_tokenizer_is_refused(
    tmp_path: Path, bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((bert_dir / name).read_bytes())
    err = _refusal(["export", "--model", str(bare)], capsys)
    assert "tokenizer" in err and "fast" in err


def test_a_missing_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refusal(["export", "--model", str(tmp_path / "nope")], capsys)
    assert str(tmp_path / "nope") in err


def test_max_length_above_the_model_is_refused_below_it_is_recorded(
    tmp_path: Path, bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refusal(["export", "--model", str(bert_dir), "--max-length", "129"], capsys)
    assert "--max-length 129" in err and "at most 128 tokens" in err

    out = tmp_path / "short"
    args = ["export", "--model", str(bert_dir), "--output", str(out), "--max-length", "16"]
    assert main([*args, "--fp16", "off", "--int8-tolerance", "1"]) == 0
    manifest = load_manifest(out)
    assert manifest.max_length == 16
    assert set(manifest.variants) == {"fp32", "int8"}, "tolerance 1 keeps any int8"
    ids = TextEncoder.for_artifact(out, manifest).encode(["word " * 100])[0]
    assert len(ids) == 16


def test_the_entry_point_runs_as_a_module(tmp_path: Path) -> None:
    model_dir = BUILDERS["distilbert"](tmp_path / "distilbert")
    done = subprocess.run(
        [sys.executable, "-m", "training", "export", "--model", str(model_dir),
         "--output", str(tmp_path / "artifact"), "--fp16", "off", "--cpu-variant", "fp32"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"artifact: {tmp_path / 'artifact'} [fp32 (model.onnx")
    assert "distilbert, 4 labels (softmax), max 128 tokens" in done.stdout
    assert "\r" not in done.stdout + done.stderr
    assert load_manifest(tmp_path / "artifact").labels == LABELS


def test_manifests_written_before_the_new_fields_still_load() -> None:
    old = {
        "format_version": 1,
        "model_version": "20240101-000000-abcdef12",
        "labels": ["a", "b"],
        "max_length": 64,
        "variants": {"fp32": {"file": "model.onnx", "precision": "fp32", "parity": {}}},
    }
    manifest = Manifest.model_validate(json.loads(json.dumps(old)))
    assert manifest.activation == "softmax"
    assert manifest.truncation_side == "right"
    assert manifest.pad_token_id == 0
    assert manifest.input_names == ["input_ids", "attention_mask"]
    assert manifest.variants["fp32"].verified_on == []
    with pytest.raises(ValueError, match="input_names"):
        Manifest.model_validate(old | {"input_names": ["input_ids", "position_ids"]})


def test_default_check_texts_include_texts_the_model_must_truncate(bert_dir: Path) -> None:
    from transformers import AutoTokenizer

    from training.export_model import LONG_TEXTS, check_texts

    tokenizer = AutoTokenizer.from_pretrained(bert_dir)  # type: ignore[no-untyped-call]
    texts = check_texts([], tokenizer, 1000)  # longer than the 440-headline sample's cycle
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    assert sum(length > 1000 for length in lengths) == LONG_TEXTS
    assert len(set(texts[-LONG_TEXTS:])) == LONG_TEXTS, "the long texts differ"
    assert check_texts(["mine"], tokenizer, 1000) == ["mine"]
