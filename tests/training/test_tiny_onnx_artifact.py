"""The torch-free tiny artifact of the serving tests is a real model: deterministic, fast to
build, servable, and its predictions follow the text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from service.backend.artifact import load_manifest
from training.tiny_onnx_artifact import (
    TinyArtifactError,
    build_onnx_artifact,
    read_sample,
)

BUILD_AND_REPORT = """
import sys, time
from pathlib import Path
started = time.perf_counter()
from training.tiny_onnx_artifact import build_onnx_artifact
build_onnx_artifact(Path(sys.argv[1]))
print(time.perf_counter() - started)
print(",".join(m for m in ("torch", "transformers") if m in sys.modules))
"""


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_onnx_artifact(tmp_path_factory.mktemp("tiny-onnx") / "model")


def run(model_dir: Path, texts: list[str], precision: str = "fp32") -> np.ndarray:
    """The artifact by hand: its tokenizer.json (padding a batch) and one ONNX variant."""
    manifest = load_manifest(model_dir)
    tokenizer = Tokenizer.from_file(str(model_dir / manifest.tokenizer))
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    feeds = {
        "input_ids": ids,
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.zeros_like(ids),
    }
    session = ort.InferenceSession(
        str(model_dir / manifest.variants[precision].file),  # type: ignore[index]
        providers=["CPUExecutionProvider"],
    )
    names = [i.name for i in session.get_inputs()]
    return np.asarray(session.run(["logits"], {n: feeds[n] for n in names})[0])


def test_a_fresh_process_builds_it_in_seconds_without_torch_and_the_same_bytes_each_time(
    artifact: Path, tmp_path: Path
) -> None:
    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "again"
    result = subprocess.run(
        [sys.executable, "-c", BUILD_AND_REPORT, str(out)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seconds, heavy = result.stdout.splitlines()[-2:]
    assert heavy == "", f"the builder imported {heavy}"
    assert float(seconds) < 5, f"built in {float(seconds):.1f} s, imports included"
    files = sorted(p.name for p in artifact.iterdir())
    assert files == sorted(p.name for p in out.iterdir())
    assert files == [
        "README.md",
        "manifest.json",
        "metrics.json",
        "model.int8.onnx",
        "model.onnx",
        "tokenizer.json",
    ]
    for name in files:
        assert (out / name).read_bytes() == (artifact / name).read_bytes(), name


def test_another_seed_gives_another_model(artifact: Path, tmp_path: Path) -> None:
    other = build_onnx_artifact(tmp_path / "seed1", seed=1, int8=False)
    assert (other / "tokenizer.json").read_bytes() == (artifact / "tokenizer.json").read_bytes()
    assert (other / "model.onnx").read_bytes() != (artifact / "model.onnx").read_bytes()
    assert load_manifest(other).model_version != load_manifest(artifact).model_version


def test_the_manifest_describes_what_the_server_reads(artifact: Path) -> None:
    manifest = load_manifest(artifact)
    assert manifest.labels == ["business", "entertainment", "health", "scitech"]
    assert manifest.input_names == ["input_ids", "attention_mask"]
    assert manifest.max_length == 32
    assert {p: v.file for p, v in manifest.variants.items()} == {
        "fp32": "model.onnx",
        "int8": "model.int8.onnx",
    }
    assert manifest.device_variant == {"cpu": "fp32", "cuda": "fp32"}
    session = ort.InferenceSession(str(artifact / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("input_ids", "tensor(int64)"),
        ("attention_mask", "tensor(int64)"),
    ]
    (logits,) = session.get_outputs()
    assert (logits.name, logits.type, logits.shape[-1]) == ("logits", "tensor(float)", 4)


def test_the_tokenizer_is_bert_style(artifact: Path) -> None:
    tokenizer = Tokenizer.from_file(str(artifact / "tokenizer.json"))
    pad, unk, cls, sep = (tokenizer.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
    assert pad == 0
    known = tokenizer.encode("Merger TALKS")  # lower-cased; both words are in the sample
    assert known.tokens == ["[CLS]", "merger", "talks", "[SEP]"]
    assert known.ids[0] == cls and known.ids[-1] == sep
    assert tokenizer.encode("stocks").tokens == ["[CLS]", "stock", "##s", "[SEP]"]
    unseen = tokenizer.encode("zyxwv")  # not in the sample: spelt out in pieces, not [UNK]
    assert unk not in unseen.ids and unseen.tokens[2].startswith("##")
    assert len(tokenizer.encode("word " * 100).ids) == 32
    config = json.loads((artifact / "tokenizer.json").read_text())
    assert config["padding"]["strategy"] == "BatchLongest"


def test_predictions_follow_the_text_and_padding_does_not_change_them(artifact: Path) -> None:
    texts, labels = read_sample()
    names = load_manifest(artifact).labels
    predicted = run(artifact, texts).argmax(axis=1)
    truth = np.array([names.index(label) for label in labels])
    accuracy = float((predicted == truth).mean())
    assert set(predicted.tolist()) == set(range(4)), "every label is predicted for some text"
    assert accuracy > 0.5  # chance is 0.25
    recorded = json.loads((artifact / "metrics.json").read_text())["sample_fit_accuracy"]
    assert recorded == pytest.approx(accuracy)

    short = "Chip maker unveils faster processor"
    alone = run(artifact, [short])
    beside_a_long_text = run(artifact, [short, "word " * 40])  # padded to 32 tokens
    np.testing.assert_allclose(beside_a_long_text[0], alone[0], atol=1e-5)


def test_the_int8_variant_mostly_agrees_with_fp32_as_recorded(artifact: Path) -> None:
    texts, _ = read_sample()
    fp32, int8 = run(artifact, texts), run(artifact, texts, "int8")
    agreement = float((fp32.argmax(1) == int8.argmax(1)).mean())
    assert agreement > 0.9
    parity = load_manifest(artifact).variants["int8"].parity
    assert parity["argmax_agreement"] == pytest.approx(agreement)
    assert parity["max_abs_logit_diff"] == pytest.approx(float(np.abs(fp32 - int8).max()), rel=1e-5)


def test_token_type_ids_are_a_third_input_when_asked(tmp_path: Path) -> None:
    model_dir = build_onnx_artifact(tmp_path / "types", token_type_ids=True, int8=False)
    manifest = load_manifest(model_dir)
    assert manifest.input_names == ["input_ids", "attention_mask", "token_type_ids"]
    assert set(manifest.variants) == {"fp32"}
    assert not (model_dir / "model.int8.onnx").exists()
    session = ort.InferenceSession(
        str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in session.get_inputs()] == manifest.input_names
    texts, _ = read_sample()
    assert len(set(run(model_dir, texts).argmax(axis=1).tolist())) == 4


def test_labels_of_its_own_still_give_varied_predictions(tmp_path: Path) -> None:
    model_dir = build_onnx_artifact(tmp_path / "two", labels=["neg", "pos"], max_length=16)
    manifest = load_manifest(model_dir)
    assert manifest.labels == ["neg", "pos"] and manifest.max_length == 16
    texts, _ = read_sample()
    logits = run(model_dir, texts)
    assert logits.shape == (len(texts), 2)
    assert set(logits.argmax(axis=1).tolist()) == {0, 1}


@pytest.mark.parametrize("labels", [["only"], ["a", "b", "a"]])
def test_unusable_labels_are_refused(tmp_path: Path, labels: list[str]) -> None:
    with pytest.raises(TinyArtifactError, match="at least 2 unique"):
        build_onnx_artifact(tmp_path / "bad", labels=labels)
    assert not (tmp_path / "bad").exists()
