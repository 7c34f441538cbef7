"""The pipeline's evaluation step: score the model that would be served, on the held-out test
split, and write evaluation.json (the pipeline's property file, and the model package's
model-quality statistics).

It unpacks the training job's model.tar.gz, runs the variant the manifest serves on CPU with
ONNX Runtime and the server's own tokenizer code (training.onnx_check), and, when the
artifact has an int8 variant, compares it with fp32 on the same texts.

evaluation.json (the paths the pipeline's condition reads are marked *):

    multiclass_classification_metrics.accuracy.value *      share of test texts right
    multiclass_classification_metrics.macro_f1.value *      unweighted mean of per-label F1
    multiclass_classification_metrics.per_label.LABEL       precision, recall, f1, support
    multiclass_classification_metrics.confusion_matrix      {true: {predicted: count}}
    int8.accuracy_drop *                                    fp32 accuracy - int8 accuracy
    int8.agreement                                          share of texts with the same label
    gate.missed                                             which figure missed (the fail step)
"""

from __future__ import annotations

import csv
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.backend.artifact import Manifest, load_manifest
from service.backend.tokenizer import TextEncoder
from training.errors import DataError, TrainingError
from training.evaluate import classification_metrics
from training.onnx_check import OnnxClassifier

EVALUATION_FILE = "evaluation.json"
MODEL_ARCHIVE = "model.tar.gz"


@dataclass(frozen=True)
class Thresholds:
    """The pipeline's parameters, passed in so the report can say which figure missed."""

    min_accuracy: float
    min_macro_f1: float
    int8_tolerance: float


@dataclass(frozen=True)
class EvaluateOptions:
    model_dir: Path
    test_dir: Path
    output_dir: Path
    thresholds: Thresholds


def unpack_model(model_dir: Path, into: Path) -> Path:
    """The artifact directory: model.tar.gz unpacked (plain files only), or the directory."""
    archive = model_dir / MODEL_ARCHIVE
    if not archive.is_file():
        return model_dir
    try:
        with tarfile.open(archive, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, filter="data")
                return into
            root = into.resolve()  # what the "data" filter refuses, by hand (3.11.2 lacks it)
            for member in tar.getmembers():
                target = (into / member.name).resolve()
                if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
                    raise TrainingError(f"{archive}: refusing member {member.name!r}")
            tar.extractall(into)
    except (tarfile.TarError, OSError) as exc:
        raise TrainingError(f"{archive}: not a readable gzip tar archive ({exc})") from exc
    return into


def read_test(test_dir: Path, labels: list[str]) -> tuple[list[str], list[int]]:
    files = sorted(test_dir.rglob("*.csv"))
    if len(files) != 1:
        raise DataError(f"{test_dir}: expected one test .csv, found {len(files)}")
    index = {name: i for i, name in enumerate(labels)}
    texts: list[str] = []
    ids: list[int] = []
    with files[0].open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["label"] not in index:
                raise DataError(
                    f"{files[0]}: test label {row['label']!r} is not one of the model's "
                    f"labels ({', '.join(labels)})"
                )
            texts.append(row["text"])
            ids.append(index[row["label"]])
    if not texts:
        raise DataError(f"{files[0]}: no test rows")
    return texts, ids


def predictions(model_dir: Path, manifest: Manifest, precision: str, texts: list[str]) -> Any:
    variant = manifest.variants[precision]  # type: ignore[index]
    encoder = TextEncoder.for_artifact(model_dir, manifest)
    return OnnxClassifier(model_dir / variant.file, encoder).logits(texts).argmax(axis=1)


def evaluate(options: EvaluateOptions) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="evaluate-") as work:
        model_dir = unpack_model(options.model_dir, Path(work))
        manifest = load_manifest(model_dir)  # checksums verified
        labels = list(manifest.labels)
        texts, truth = read_test(options.test_dir, labels)
        served = manifest.device_variant["cpu"]
        predicted: dict[str, Any] = {served: predictions(model_dir, manifest, served, texts)}
        if "int8" in manifest.variants:
            for precision in ("fp32", "int8"):
                if precision not in predicted:
                    predicted[precision] = predictions(model_dir, manifest, precision, texts)
    metrics = classification_metrics(truth, predicted[served].tolist(), labels)
    report = {
        "multiclass_classification_metrics": _model_quality(metrics, labels),
        "int8": _int8(predicted, np.asarray(truth)),
        "served_variant": served,
        "model_version": manifest.model_version,
        "test_texts": len(texts),
    }
    report["gate"] = _gate(report, options.thresholds)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    (options.output_dir / EVALUATION_FILE).write_text(
        json.dumps(report, indent=2), encoding="utf-8"
    )
    return report


def _model_quality(metrics: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """SageMaker's model-quality statistics shape ({"value": ...} per figure)."""
    matrix = metrics["confusion_matrix"]
    return {
        "accuracy": {"value": metrics["accuracy"]},
        "macro_f1": {"value": metrics["macro_f1"]},
        "per_label": {
            name: {
                "precision": figures["precision"],
                "recall": figures["recall"],
                "f1": figures["f1-score"],
                "support": int(figures["support"]),
            }
            for name, figures in metrics["per_class"].items()
        },
        "confusion_matrix": {
            true: {pred: int(matrix[i][j]) for j, pred in enumerate(labels)}
            for i, true in enumerate(labels)
        },
    }


def _int8(predicted: dict[str, Any], truth: np.ndarray) -> dict[str, Any]:
    if "int8" not in predicted:
        return {"present": False, "agreement": 1.0, "accuracy_drop": 0.0}
    fp32, int8 = predicted["fp32"], predicted["int8"]
    fp32_accuracy = float((fp32 == truth).mean())
    int8_accuracy = float((int8 == truth).mean())
    return {
        "present": True,
        "agreement": float((fp32 == int8).mean()),
        "fp32_accuracy": fp32_accuracy,
        "int8_accuracy": int8_accuracy,
        "accuracy_drop": fp32_accuracy - int8_accuracy,
    }


def _gate(report: dict[str, Any], limits: Thresholds) -> dict[str, Any]:
    """Which figures miss the pipeline's thresholds, in words (the fail step's reason)."""
    quality = report["multiclass_classification_metrics"]
    accuracy, macro_f1 = quality["accuracy"]["value"], quality["macro_f1"]["value"]
    drop = report["int8"]["accuracy_drop"]
    missed = []
    if accuracy < limits.min_accuracy:
        missed.append(f"accuracy {accuracy:.4f} < MinAccuracy {limits.min_accuracy:g}")
    if macro_f1 < limits.min_macro_f1:
        missed.append(f"macro-F1 {macro_f1:.4f} < MinMacroF1 {limits.min_macro_f1:g}")
    if drop > limits.int8_tolerance:
        missed.append(f"int8 accuracy drop {drop:.4f} > Int8Tolerance {limits.int8_tolerance:g}")
    return {
        "thresholds": {
            "MinAccuracy": limits.min_accuracy,
            "MinMacroF1": limits.min_macro_f1,
            "Int8Tolerance": limits.int8_tolerance,
        },
        "passed": not missed,
        "missed": "; ".join(missed),
    }
