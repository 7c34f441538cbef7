"""A tiny but real artifact for tests: DistilBERT from config, trained a few steps, exported
through the same code as the real pipeline (fp32 + int8, manifest, tokenizer.json)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import DistilBertConfig, DistilBertForSequenceClassification

from training.base_model import DEFAULT_BASE, load_tokenizer
from training.data import SAMPLE_DATA, load_splits
from training.export import ExportOptions
from training.finetune import TrainConfig
from training.pipeline import RunOptions, train_and_export

TINY_SHAPE = {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64}


def tiny_model(label_names: list[str], seed: int = 0) -> DistilBertForSequenceClassification:
    """A randomly initialised DistilBERT with bert-base-uncased's 30,522-token vocabulary."""
    torch.manual_seed(seed)
    config = DistilBertConfig(  # type: ignore[no-untyped-call]
        vocab_size=30522,
        max_position_embeddings=512,
        **TINY_SHAPE,
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    return DistilBertForSequenceClassification(config)


def build_tiny_artifact(out_dir: Path, *, max_length: int = 32, seed: int = 0) -> Path:
    """Build a servable artifact in `out_dir` from the bundled sample; return `out_dir`.

    The CPU variant is pinned to fp32 (tests should not depend on a timing), and int8 is
    always written, with its accuracy recorded, since a tiny model's int8 may drift.
    """
    out_dir = Path(out_dir)
    splits = load_splits(SAMPLE_DATA, seed=seed)
    options = RunOptions(
        output=out_dir,
        base_model="tiny-distilbert (from config, for tests)",
        save_pytorch=False,
        train=TrainConfig(
            epochs=6,
            batch_size=32,
            learning_rate=5e-3,
            warmup_ratio=0.0,
            max_length=max_length,
            seed=seed,
            patience=0,
            freeze_embeddings=False,  # random embeddings: they must learn too
            progress=False,
        ),
        export=ExportOptions(cpu_variant="fp32", fp16="off", int8_max_accuracy_drop=None),
    )
    model = tiny_model(splits.label_names, seed=seed)
    train_and_export(model, load_tokenizer(DEFAULT_BASE), splits, options)
    return out_dir
