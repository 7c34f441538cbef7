"""Data -> fine-tuned model -> evaluated, exported, validated artifact. One call per run."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from service.backend.artifact import Manifest, QualityGate
from training.artifact_writer import ArtifactContent, write_artifact, write_tokenizer_json
from training.base_model import DEFAULT_BASE, load_classifier, load_tokenizer
from training.checkpoint import serving_contract
from training.data import SAMPLE_DATA, Splits, load_splits
from training.evaluate import (
    classification_metrics,
    predict_logits,
    save_confusion_matrix,
    save_training_curves,
)
from training.export import ExportOptions, export_variants
from training.finetune import TrainConfig, TrainResult, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    data: str = str(SAMPLE_DATA)
    output: Path = Path("artifacts/default")
    base_model: str = DEFAULT_BASE
    text_column: str = "text"
    label_column: str = "label"
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    min_accuracy: float | None = None
    save_pytorch: bool = True
    pytorch_dir: Path | None = None
    """Where the fine-tuned PyTorch checkpoint goes; None: `<output>-pytorch` beside the artifact."""
    replace_output: bool = True
    """Swap the artifact directory in whole (False: fill the existing directory, e.g. a mount)."""
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportOptions = field(default_factory=ExportOptions)


@dataclass
class RunResult:
    manifest: Manifest
    output: Path
    pytorch_dir: Path | None
    notes: list[str]


def pytorch_dir_for(output: Path) -> Path:
    """The fine-tuned checkpoint lives beside the artifact, never inside it."""
    output = Path(output)
    return output.with_name(f"{output.name}-pytorch")


def calibration_sample(texts: list[str], seed: int, size: int = 256) -> list[str]:
    """Training texts for static int8 calibration: a seeded sample, never the test split."""
    order = np.random.default_rng(seed).permutation(len(texts))[:size]
    return [texts[i] for i in order]


GATE_TEXTS = 2000
"""Texts the int8 and fp16 gates compare on at least, when the data has them."""


def gate_set(splits: Splits, seed: int) -> tuple[list[str], list[int]]:
    """Texts and labels the reduced-precision gates judge on: the test and validation splits,
    topped up with a seeded sample of training texts to GATE_TEXTS. The gates measure what
    quantisation changes, not how well the model generalises, so training texts count too;
    on a small data set (the bundled sample's 44 test texts) one flipped text would otherwise
    be 2.3 points and decide the variant by chance."""
    texts = splits.test.texts + splits.validation.texts
    labels = splits.test.labels + splits.validation.labels
    room = max(0, GATE_TEXTS - len(texts))
    order = np.random.default_rng(seed).permutation(len(splits.train.texts))[:room]
    return texts + [splits.train.texts[i] for i in order], labels + [
        splits.train.labels[i] for i in order
    ]


def run_from_checkpoint(options: RunOptions, checkpoint: Path) -> RunResult:
    """Re-export a model an earlier run fine-tuned (same data and seed: same test split)."""
    from transformers import AutoModelForSequenceClassification

    splits = load_splits(
        options.data,
        text_column=options.text_column,
        label_column=options.label_column,
        seed=options.train.seed,
        validation_fraction=options.validation_fraction,
        test_fraction=options.test_fraction,
    )
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint)
    tokenizer = load_tokenizer(str(checkpoint))
    return export_trained(model, tokenizer, splits, options, TrainResult())


def run(options: RunOptions) -> RunResult:
    splits = load_splits(
        options.data,
        text_column=options.text_column,
        label_column=options.label_column,
        seed=options.train.seed,
        validation_fraction=options.validation_fraction,
        test_fraction=options.test_fraction,
    )
    log.info("data: %s", splits.summary)
    tokenizer = load_tokenizer(options.base_model)
    model = load_classifier(options.base_model, splits.label_names)
    return train_and_export(model, tokenizer, splits, options)


def train_and_export(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, splits: Splits, options: RunOptions
) -> RunResult:
    """Fine-tune, evaluate on the test split, export and check every variant, write the artifact."""
    history = train(model, tokenizer, splits, options.train)
    return export_trained(model, tokenizer, splits, options, history)


def export_trained(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    splits: Splits,
    options: RunOptions,
    history: TrainResult,
) -> RunResult:
    """Evaluate a fine-tuned model on the test split, export and check it, write the artifact
    (and the PyTorch checkpoint). `bench_train.py --from-checkpoint` re-exports this way."""
    config = options.train
    test_logits = predict_logits(
        model.cpu(), tokenizer, splits.test.texts, max_length=config.max_length
    )
    metrics: dict[str, object] = classification_metrics(
        splits.test.labels, test_logits.argmax(axis=1).tolist(), splits.label_names
    )

    contract = serving_contract(model, tokenizer, options.base_model, config.max_length)
    with tempfile.TemporaryDirectory(prefix="training-run-") as work:
        work_dir = Path(work)
        tokenizer_json = work_dir / "tokenizer.json"
        write_tokenizer_json(tokenizer, config.max_length, tokenizer_json)
        gate_texts, gate_labels = gate_set(splits, config.seed)
        gate_logits = predict_logits(model, tokenizer, gate_texts, max_length=config.max_length)
        exported = export_variants(
            model,
            tokenizer_json,
            contract,
            gate_texts,
            gate_labels,
            gate_logits,
            work_dir,
            options.export,
            calibration_texts=calibration_sample(splits.train.texts, config.seed),
        )
        figures = [work_dir / "confusion_matrix.png", work_dir / "training_curves.png"]
        save_confusion_matrix(
            metrics["confusion_matrix"],  # type: ignore[arg-type]
            splits.label_names,
            figures[0],
            f"test split, accuracy {metrics['accuracy']:.3f}",
        )
        save_training_curves(history.history, history.step_losses, figures[1])

        accuracy = float(metrics["accuracy"])  # type: ignore[arg-type]
        gate = QualityGate(
            metric="accuracy",
            threshold=options.min_accuracy,
            value=accuracy,
            passed=options.min_accuracy is None or accuracy >= options.min_accuracy,
        )
        metrics.update(
            {
                "split": "test",
                "history": history.history,
                "best_epoch": history.best_epoch,
                "stopped_early": history.stopped_early,
                "train_device": history.device,
                "config": asdict(config),
                "export": {
                    "parity": exported.parity,
                    "notes": exported.notes,
                    "int8_settings": asdict(options.export.int8),
                },
            }
        )
        content = ArtifactContent(
            contract=contract,
            onnx_files=exported.files,
            parity=exported.parity,
            device_variant=exported.device_variant,
            input_names=exported.input_names,
            verified_on=exported.verified_on,
            base_model=options.base_model,
            dataset=dict(splits.summary),
            metrics=metrics,
            quality_gate=gate,
            figures=figures,
        )
        manifest = write_artifact(
            options.output, content, tokenizer, replace_dir=options.replace_output
        )

    pytorch_dir = None
    if options.save_pytorch:
        pytorch_dir = options.pytorch_dir or pytorch_dir_for(options.output)
        model.save_pretrained(pytorch_dir)
        tokenizer.save_pretrained(pytorch_dir)
    return RunResult(
        manifest=manifest,
        output=Path(options.output),
        pytorch_dir=pytorch_dir,
        notes=exported.notes,
    )
