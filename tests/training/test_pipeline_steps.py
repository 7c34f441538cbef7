"""The pipeline's processing steps (training/pipeline_steps): the data checks and split, and the
evaluation of a real ONNX artifact (torch-free tiny model) on the held-out split."""

from __future__ import annotations

import csv
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from service.backend.artifact import load_manifest
from service.backend.tokenizer import TextEncoder
from training.data import SAMPLE_DATA, load_splits
from training.errors import DataError
from training.onnx_check import OnnxClassifier
from training.pipeline_steps.__main__ import main
from training.pipeline_steps.evaluate_model import EvaluateOptions, Thresholds, evaluate
from training.pipeline_steps.prepare import PrepareOptions, prepare
from training.tiny_onnx_artifact import build_onnx_artifact


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def prepared(tmp_path: Path) -> PrepareOptions:
    data = tmp_path / "input"
    data.mkdir()
    (data / "headlines.csv").write_bytes(SAMPLE_DATA.read_bytes())
    options = PrepareOptions(data, tmp_path / "train", tmp_path / "test")
    prepare(options)
    return options


def test_prepare_holds_out_a_stratified_test_split(prepared: PrepareOptions) -> None:
    train = _rows(prepared.train_dir / "train.csv")
    test = _rows(prepared.test_dir / "test.csv")
    source = _rows(SAMPLE_DATA)
    assert len(train) + len(test) == len(source)
    assert {r["text"] for r in train}.isdisjoint({r["text"] for r in test})
    labels = sorted({r["label"] for r in source})
    per_label = [sum(r["label"] == label for r in test) for label in labels]
    assert max(per_label) - min(per_label) <= 1  # the sample is balanced; so is the split
    report = json.loads((prepared.train_dir / "data_report.json").read_text())
    assert report["labels"] == labels and report["test"] == len(test)


@pytest.mark.parametrize(
    "body",
    [
        "text,label\n" + "".join(f"headline {i},sports\n" for i in range(20)),
        "text,topic\na,b\n",
        "text,label\n" + "".join(f"h{i},{'ab'[i % 2] if i < 12 else 'c'}\n" for i in range(14)),
    ],
    ids=["one class", "missing column", "small class"],
)
def test_bad_data_fails_with_the_training_clis_reason(tmp_path: Path, body: str) -> None:
    data = tmp_path / "input"
    data.mkdir()
    (data / "bad.csv").write_text(body, encoding="utf-8")
    with pytest.raises(DataError) as cli:
        load_splits(data / "bad.csv")
    message = tmp_path / "output" / "message"
    code = main(["--message-file", str(message), "prepare", "--input", str(data),
                 "--train", str(tmp_path / "train"), "--test", str(tmp_path / "test")])  # fmt: skip
    assert code == 2
    assert message.read_text(encoding="utf-8").strip() == str(cli.value)
    assert not (tmp_path / "train" / "train.csv").exists()


def test_evaluate_scores_the_served_variant_and_compares_int8(
    prepared: PrepareOptions, tmp_path: Path
) -> None:
    artifact = build_onnx_artifact(tmp_path / "artifact")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:  # as the training job packs it
        for path in artifact.iterdir():
            tar.add(path, arcname=path.name)
    report = evaluate(
        EvaluateOptions(model_dir, prepared.test_dir, tmp_path / "evaluation", Thresholds(0.99, 0.0, 0.0))
    )  # fmt: skip
    manifest = load_manifest(artifact)
    test = _rows(prepared.test_dir / "test.csv")
    texts = [r["text"] for r in test]
    truth = np.array([manifest.labels.index(r["label"]) for r in test])
    encoder = TextEncoder.for_artifact(artifact, manifest)

    def accuracy(precision: str) -> float:
        file = artifact / manifest.variants[precision].file  # type: ignore[index]
        return float((OnnxClassifier(file, encoder).logits(texts).argmax(axis=1) == truth).mean())

    served = manifest.device_variant["cpu"]
    quality = report["multiclass_classification_metrics"]
    assert report["served_variant"] == served and report["test_texts"] == len(test)
    assert quality["accuracy"]["value"] == pytest.approx(accuracy(served))
    assert sum(quality["confusion_matrix"][label][label] for label in manifest.labels) == round(
        quality["accuracy"]["value"] * len(test)
    )
    assert report["int8"]["accuracy_drop"] == pytest.approx(accuracy("fp32") - accuracy("int8"))
    assert 0.0 <= report["int8"]["agreement"] <= 1.0
    # A threshold above what the model reaches is named; the ones it meets are not.
    assert report["gate"]["passed"] is False
    assert (
        f"accuracy {quality['accuracy']['value']:.4f} < MinAccuracy 0.99"
        in report["gate"]["missed"]
    )
    assert "macro-F1" not in report["gate"]["missed"]
    written = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert written == report
