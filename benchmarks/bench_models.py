"""Models the benchmarks build for themselves (cached under artifacts/): random weights built
from config, the default base's tokenizer, exported through `python -m training export`
(speed does not depend on the weights)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
LABELS = ["world", "sports", "business", "scitech"]


def random_artifact(name: str, model_type: str, max_length: int, **shape: Any) -> Path:
    """artifacts/<name>/artifact: a `model_type` classifier of `shape`, exported once, reused."""
    out = ARTIFACTS / name
    artifact = out / "artifact"
    if (artifact / "manifest.json").is_file():
        return artifact
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from training.base_model import DEFAULT_BASE, load_tokenizer
    from training.cli import main as training_cli

    checkpoint = out / "checkpoint"
    config = AutoConfig.for_model(
        model_type,
        **shape,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = AutoModelForSequenceClassification.from_config(config)  # type: ignore[no-untyped-call]
    model.save_pretrained(checkpoint)
    tokenizer = load_tokenizer(DEFAULT_BASE)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(checkpoint)
    args = ["export", "--model", str(checkpoint), "--output", str(artifact)]
    if training_cli([*args, "--max-length", str(max_length), "--fp16", "off"]) != 0:
        sys.exit(f"bench: exporting the {name} model failed")
    return artifact


def bert_base_artifact() -> Path:
    """BERT-base-sized: 12 layers, hidden 768, 12 heads, 110M parameters; 128 tokens."""
    return random_artifact(
        "bench-bert-base",
        "bert",
        128,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
    )


def long_text_artifact() -> Path:
    """The default base's size (DistilBERT form: 6 layers, hidden 384), 512 tokens."""
    return random_artifact(
        "bench-long",
        "distilbert",
        512,
        dim=384,
        n_layers=6,
        n_heads=12,
        hidden_dim=1536,
        max_position_embeddings=512,
    )
