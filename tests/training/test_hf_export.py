"""`python -m training export --model DIR` across architectures: tiny random models built from
config (no hub), each exported through the CLI; the artifact's fp32 graph, fed by the server's
TextEncoder, must give what `transformers.pipeline("text-classification")` gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedTokenizerFast,
    pipeline,
)

from service.backend.artifact import Manifest, load_manifest
from service.backend.tokenizer import TextEncoder
from training.data import sample_texts
from training.tiny_hf_models import BUILDERS, export_tiny

ARCHITECTURES = list(BUILDERS)
TAKES_TOKEN_TYPES = {"bert", "electra"}
"""DeBERTa-v2 with type_vocab_size 0 has no token-type table, so its graph takes none."""
PAD_ONE = {"roberta", "xlm-roberta-multilabel"}
TEXTS = [
    "Stocks rally as the central bank holds rates",
    "New vaccine trial shows promise",
    "Pop star announces a stadium tour!",
    "Rocket launches new weather satellite",
    *sample_texts()[:12],
]


@pytest.fixture(scope="module", params=ARCHITECTURES)
def exported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, Path]:
    name = str(request.param)
    model_dir, artifact = export_tiny(name, tmp_path_factory.mktemp(name))
    return name, model_dir, artifact


def _tokenizer(model_dir: Path) -> PreTrainedTokenizerFast:
    return AutoTokenizer.from_pretrained(model_dir)  # type: ignore[no-untyped-call,no-any-return]


def _probabilities(manifest: Manifest, logits: np.ndarray) -> np.ndarray:
    if manifest.activation == "sigmoid":
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def _onnx_logits(artifact: Path, manifest: Manifest, texts: list[str]) -> np.ndarray:
    session = ort.InferenceSession(
        str(artifact / manifest.variants["fp32"].file), providers=["CPUExecutionProvider"]
    )
    feeds = TextEncoder.for_artifact(artifact, manifest).encode_feeds(texts)
    return np.asarray(session.run([manifest.output_name], feeds)[0])


def test_manifest_records_what_the_model_is(exported: tuple[str, Path, Path]) -> None:
    name, model_dir, artifact = exported
    manifest = load_manifest(artifact, verify_checksums=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = _tokenizer(model_dir)
    config = model.config

    assert manifest.labels == [config.id2label[i] for i in range(config.num_labels)]
    multi = config.problem_type == "multi_label_classification"
    assert manifest.activation == ("sigmoid" if multi else "softmax")
    assert manifest.architecture == config.model_type
    graph = onnx.load(str(artifact / "model.onnx"), load_external_data=False).graph
    assert manifest.input_names == [i.name for i in graph.input]
    assert ("token_type_ids" in manifest.input_names) == (name in TAKES_TOKEN_TYPES)
    assert manifest.pad_token_id == tokenizer.pad_token_id == (1 if name in PAD_ONE else 0)
    assert manifest.truncation_side == tokenizer.truncation_side
    # Every tiny model has 128 usable positions: RoBERTa-family tables hold 130 rows (offset
    # 2), DistilBERT's tokenizer claims 512 but its table has 128 rows.
    assert manifest.max_length == 128
    assert manifest.variants["fp32"].verified_on == ["cpu"]
    assert "fp16" in manifest.variants and manifest.device_variant["cuda"] == "fp16"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert manifest.variants["fp16"].verified_on == []
    card = (artifact / "README.md").read_text(encoding="utf-8")
    assert config.model_type in card and ", ".join(manifest.labels) in card


def test_text_encoder_gives_the_hugging_face_tokenizer_ids(
    exported: tuple[str, Path, Path],
) -> None:
    _, model_dir, artifact = exported
    manifest = load_manifest(artifact)
    tokenizer = _tokenizer(model_dir)
    long_text = " ".join(TEXTS * 4)
    texts = [*TEXTS[:3], long_text]
    ours = TextEncoder.for_artifact(artifact, manifest).encode_feeds(texts)
    theirs = tokenizer(
        texts, padding=True, truncation=True, max_length=manifest.max_length, return_tensors="np"
    )
    assert list(ours) == manifest.input_names
    for name in manifest.input_names:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert ours["input_ids"].shape[1] == manifest.max_length


def test_fp32_scores_match_the_transformers_pipeline(exported: tuple[str, Path, Path]) -> None:
    _, model_dir, artifact = exported
    manifest = load_manifest(artifact)
    classify = pipeline(
        "text-classification",
        model=AutoModelForSequenceClassification.from_pretrained(model_dir),
        tokenizer=_tokenizer(model_dir),
        top_k=None,
        device="cpu",
    )
    expected: list[list[dict[str, Any]]] = classify(TEXTS)  # type: ignore[assignment]
    probabilities = _probabilities(manifest, _onnx_logits(artifact, manifest, TEXTS))
    spread = 0.0
    for row, answers in zip(probabilities, expected, strict=True):
        assert len(answers) == len(manifest.labels)
        for answer in answers:
            score = row[manifest.labels.index(answer["label"])]
            assert abs(score - answer["score"]) <= 1e-4, (answer, score)
        spread = max(spread, float(np.ptp(row)))
    assert spread > 1e-3, "the scores are all alike: the comparison would prove little"


def test_long_texts_truncate_on_the_tokenizers_side_like_pytorch(
    exported: tuple[str, Path, Path],
) -> None:
    _, model_dir, artifact = exported
    manifest = load_manifest(artifact)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = _tokenizer(model_dir)
    texts = [" ".join(TEXTS[i:] + TEXTS[:i]) * 3 for i in range(3)]
    import torch

    with torch.inference_mode():
        batch = tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=manifest.max_length,
            return_tensors="pt",
        )
        reference = model(**batch).logits.numpy()
    np.testing.assert_allclose(_onnx_logits(artifact, manifest, texts), reference, atol=1e-4)
