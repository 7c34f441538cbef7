"""Models the serving benchmark builds for itself (cached under artifacts/): random weights
built from config, exported through `python -m training export` (speed does not depend on
the weights)."""

from __future__ import annotations

import sys
from pathlib import Path

from bench_common import ROOT

BERT_BASE = Path(ROOT) / "artifacts" / "bench-bert-base"


def bert_base_artifact(max_length: int = 128) -> Path:
    """BERT-base-sized (12 layers, hidden 768, 12 heads, 110M parameters), the default base's
    tokenizer; exported once, then reused."""
    artifact = BERT_BASE / "artifact"
    if (artifact / "manifest.json").is_file():
        return artifact
    from transformers import BertConfig, BertForSequenceClassification

    from training.base_model import DEFAULT_BASE, load_tokenizer
    from training.cli import main as training_cli

    checkpoint = BERT_BASE / "checkpoint"
    labels = ["world", "sports", "business", "scitech"]
    config = BertConfig(  # type: ignore[no-untyped-call]
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    BertForSequenceClassification(config).save_pretrained(checkpoint)  # type: ignore[no-untyped-call]
    load_tokenizer(DEFAULT_BASE).save_pretrained(checkpoint)
    args = ["export", "--model", str(checkpoint), "--output", str(artifact)]
    if training_cli([*args, "--max-length", str(max_length), "--fp16", "off"]) != 0:
        sys.exit("bench: exporting the BERT-base-sized model failed")
    return artifact
